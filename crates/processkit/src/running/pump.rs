//! The read pump: one type that turns a child's output pipe into lines
//! (for streaming and readiness probes) or into one buffer (for capture),
//! running the user's line handler either way.
//!
//! # Output hygiene
//!
//! * Capture is lossless: bytes are kept as they come.
//! * Lines are split on `\n`; a `\r` before the `\n` is dropped. Invalid
//!   UTF-8 in a line is replaced with U+FFFD (never a panic).
//! * A line longer than [`MAX_LINE`] bytes without a newline is delivered in
//!   pieces of `MAX_LINE` bytes, so a child that never prints a newline cannot
//!   grow this process's memory without bound in line mode.

use std::io;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::output::{CaptureLimit, Keep, LineHandler, TeeWriter};
use crate::sys::ReadPipe;
use crate::sys::io::poll_read_vec;

/// When the child last delivered a byte on a captured stream.
pub(crate) struct Activity {
    origin: Instant,
    /// Milliseconds from `origin` to the last byte (0: none yet).
    last_ms: std::sync::atomic::AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            origin: Instant::now(),
            last_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Records that a byte arrived now.
    pub(crate) fn touch(&self) {
        let ms = self.origin.elapsed().as_millis().min(u64::MAX as u128) as u64;
        self.last_ms
            .fetch_max(ms, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn last(&self) -> u64 {
        self.last_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When the run is idle for `idle` unless another byte arrives.
    pub(crate) fn due(&self, idle: Duration) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.origin + Duration::from_millis(self.last()) + idle)
    }
}

/// A blocking pipe read end, read on a drain thread.
struct BlockingRead(std::fs::File);

impl crate::sys::PipeRead for BlockingRead {}

impl tokio::io::AsyncRead for BlockingRead {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        use std::io::Read;
        let n = self.get_mut().0.read(buf.initialize_unfilled())?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// The longest line delivered in one piece (1 MiB).
pub const MAX_LINE: usize = 1024 * 1024;

/// How much spare room a line-mode read asks for (a default pipe's worth).
/// Not more: a bigger read makes the reader take a long gulp and then parse
/// it while the writer waits, where small reads keep both running; and the
/// data is parsed while it is still in cache.
const CHUNK: usize = 64 * 1024;

/// The most capture mode reserves ahead of the data it holds.
const MAX_RESERVE: usize = 4 * 1024 * 1024;

/// Turns a raw line (without its `\n`) into text, without terminal escape
/// sequences when `strip` is set.
fn to_text(mut raw: &[u8], strip: bool) -> String {
    if let [head @ .., b'\r'] = raw {
        raw = head;
    }
    if strip {
        return crate::terminal::stripped_text(raw);
    }
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(raw).into_owned(),
    }
}

/// A child's stdout or stderr being read.
pub(crate) struct Pump {
    pipe: Option<ReadPipe>,
    buf: Vec<u8>,
    /// Start of the data not yet handed out as a line or capture.
    start: usize,
    /// In capture mode: how far the handler has seen.
    scanned: usize,
    /// In line mode: `buf[start..searched]` holds no newline (so a long line
    /// arriving in pieces is scanned once, not once per read).
    searched: usize,
    eof: bool,
    /// The line handler, tee writer and inactivity clock, when the command
    /// set any. Boxed: rarely used, and a live handle holds two pumps.
    hooks: Option<Box<Hooks>>,
    /// Capture mode with a byte cap: the bytes kept so far.
    /// Boxed: rarely used, and a live handle holds two pumps.
    bounded: Option<Box<Bounded>>,
    /// Set once any byte was read from the pipe.
    received: bool,
    /// Lines lose their terminal escape sequences.
    strip: bool,
}

/// What a [`Pump`] tells about the bytes it reads.
#[derive(Default)]
struct Hooks {
    handler: Option<LineHandler>,
    /// Gets a copy of every byte read ([`Destination::tee`](crate::Destination::tee)).
    tee: Option<TeeWriter>,
    /// Told about every read, for the inactivity deadline.
    activity: Option<std::sync::Arc<Activity>>,
}

/// A capture with a byte cap: keeps the first bytes, the last bytes, or
/// both ends, and counts what it drops. Memory stays within about twice
/// the cap.
pub(crate) struct Bounded {
    /// Bytes kept from the start (up to `head_max`).
    head: Vec<u8>,
    head_max: usize,
    /// The last bytes: `tail[tail_start..]`, at most `tail_max` of them.
    tail: Vec<u8>,
    tail_start: usize,
    tail_max: usize,
    dropped: u64,
}

impl Bounded {
    pub(crate) fn new(limit: CaptureLimit) -> Bounded {
        let (head_max, tail_max) = match limit.keep {
            Keep::Head => (limit.max_bytes, 0),
            Keep::Tail => (0, limit.max_bytes),
            Keep::Both => (limit.max_bytes / 2, limit.max_bytes - limit.max_bytes / 2),
        };
        Bounded {
            head: Vec::new(),
            head_max,
            tail: Vec::new(),
            tail_start: 0,
            tail_max,
            dropped: 0,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        let room = self.head_max - self.head.len();
        if room > 0 {
            let n = room.min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        if bytes.is_empty() {
            return;
        }
        if self.tail_max == 0 {
            self.dropped += bytes.len() as u64;
            return;
        }
        if bytes.len() >= self.tail_max {
            let skip = bytes.len() - self.tail_max;
            self.dropped += (self.tail.len() - self.tail_start + skip) as u64;
            self.tail.clear();
            self.tail.extend_from_slice(&bytes[skip..]);
            self.tail_start = 0;
            return;
        }
        self.tail.extend_from_slice(bytes);
        let held = self.tail.len() - self.tail_start;
        if held > self.tail_max {
            let excess = held - self.tail_max;
            self.dropped += excess as u64;
            self.tail_start += excess;
        }
        // Compact once the dead prefix is as big as what is kept, so the
        // copy costs O(1) per byte and memory stays under twice the cap.
        if self.tail_start >= self.tail_max.max(64 * 1024) {
            self.tail.drain(..self.tail_start);
            self.tail_start = 0;
        }
    }

    fn take(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.head);
        out.extend_from_slice(&self.tail[self.tail_start..]);
        self.tail = Vec::new();
        self.tail_start = 0;
        out
    }
}

impl Pump {
    pub(crate) fn new(pipe: Option<ReadPipe>, handler: Option<LineHandler>) -> Self {
        let eof = pipe.is_none();
        Pump {
            pipe,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            searched: 0,
            eof,
            hooks: handler.map(|h| {
                Box::new(Hooks {
                    handler: Some(h),
                    ..Hooks::default()
                })
            }),
            bounded: None,
            received: false,
            strip: false,
        }
    }

    /// Whether the child ever wrote a byte to this stream.
    pub(crate) fn received_any(&self) -> bool {
        self.received
    }

    /// Strips terminal escape sequences from every line from now on.
    pub(crate) fn with_strip(mut self, strip: bool) -> Self {
        self.strip = strip;
        self
    }

    /// Caps what capture mode keeps (`None`: everything).
    pub(crate) fn with_limit(mut self, limit: Option<CaptureLimit>) -> Self {
        self.set_limit(limit);
        self
    }

    /// Caps what capture mode keeps from now on, unless a cap is set already.
    pub(crate) fn set_limit(&mut self, limit: Option<CaptureLimit>) {
        if self.bounded.is_none() {
            self.bounded = limit.map(|l| Box::new(Bounded::new(l)));
        }
    }

    /// How many captured bytes the cap dropped.
    pub(crate) fn dropped(&self) -> u64 {
        self.bounded.as_ref().map_or(0, |b| b.dropped)
    }

    /// Bounded capture: moves the bytes the handler is done with into the
    /// bounded store (at EOF, everything).
    fn spill(&mut self) {
        let Some(b) = self.bounded.as_mut() else {
            return;
        };
        let upto = if self.hooks.as_ref().is_none_or(|h| h.handler.is_none()) || self.eof {
            self.buf.len()
        } else {
            self.scanned.max(self.start)
        };
        if upto > self.start {
            b.push(&self.buf[self.start..upto]);
            self.start = upto;
            self.scanned = self.scanned.max(upto);
            self.searched = self.searched.max(upto);
            self.compact();
        }
    }

    /// Reports every read to `activity` from now on.
    pub(crate) fn with_activity(mut self, activity: Option<std::sync::Arc<Activity>>) -> Self {
        if let Some(a) = activity {
            self.hooks.get_or_insert_with(Box::default).activity = Some(a);
        }
        self
    }

    fn handler(&self) -> Option<&LineHandler> {
        self.hooks.as_ref().and_then(|h| h.handler.as_ref())
    }

    /// Forwards every byte read from now on to `tee` as well.
    pub(crate) fn with_tee(mut self, tee: Option<TeeWriter>) -> Self {
        if let Some(t) = tee {
            self.hooks.get_or_insert_with(Box::default).tee = Some(t);
        }
        self
    }

    /// Hands `buf[from..]` (just read) to the tee writer. A failing writer
    /// is dropped: forwarding stops, capture goes on.
    fn forward(&mut self, from: usize) {
        let Some(tee) = self.hooks.as_ref().and_then(|h| h.tee.as_ref()) else {
            return;
        };
        let ok = match tee.lock() {
            Ok(mut w) => w
                .write_all(&self.buf[from..])
                .and_then(|()| w.flush())
                .is_ok(),
            Err(_) => false,
        };
        if !ok && let Some(h) = self.hooks.as_mut() {
            h.tee = None;
        }
    }

    /// `true` once the pipe reported EOF (or there never was one).
    pub(crate) fn is_eof(&self) -> bool {
        self.eof
    }

    /// One read into the buffer, with at least `want` bytes of room and of
    /// at most `max` bytes. `Ready(Ok(false))` at EOF.
    fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        want: usize,
        max: usize,
    ) -> Poll<io::Result<bool>> {
        let Some(pipe) = self.pipe.as_mut() else {
            self.eof = true;
            return Poll::Ready(Ok(false));
        };
        let before = self.buf.len();
        match poll_read_vec(pipe, cx, &mut self.buf, want, max) {
            Poll::Ready(Ok(0)) => {
                self.eof = true;
                self.pipe = None;
                Poll::Ready(Ok(false))
            }
            Poll::Ready(Ok(_)) => {
                self.received = true;
                if let Some(a) = self.hooks.as_ref().and_then(|h| h.activity.as_ref()) {
                    a.touch();
                }
                self.forward(before);
                Poll::Ready(Ok(true))
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => Poll::Ready(Ok(true)),
            Poll::Ready(Err(e)) => {
                self.eof = true;
                self.pipe = None;
                Poll::Ready(Err(e))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Room to ask for in capture mode: an eighth of what is held (so the
    /// buffer grows geometrically, never by small steps), at least
    /// [`CHUNK`], at most [`MAX_RESERVE`].
    fn capture_want(&self) -> usize {
        (self.buf.len() / 8).clamp(CHUNK, MAX_RESERVE)
    }

    /// Takes the next complete line out of the buffer, if there is one.
    fn next_buffered_line(&mut self) -> Option<String> {
        let from = self.searched.max(self.start);
        let (raw_end, next) = match self.buf[from..].iter().position(|&b| b == b'\n') {
            Some(i) if from - self.start + i <= MAX_LINE => {
                let i = from - self.start + i;
                (i, i + 1)
            }
            _ if self.buf.len() - self.start >= MAX_LINE => (MAX_LINE, MAX_LINE),
            _ if self.eof && self.buf.len() > self.start => {
                let n = self.buf.len() - self.start;
                (n, n)
            }
            _ => {
                self.searched = self.buf.len();
                return None;
            }
        };
        let line = to_text(&self.buf[self.start..self.start + raw_end], self.strip);
        self.start += next;
        self.searched = self.start;
        self.scanned = self.scanned.max(self.start);
        if let Some(h) = self.hooks.as_ref().and_then(|h| h.handler.as_ref()) {
            h(&line);
        }
        Some(line)
    }

    /// Drops consumed bytes at the front once they are most of the buffer.
    fn compact(&mut self) {
        if self.start > 0 && (self.start == self.buf.len() || self.start >= self.buf.len() / 2) {
            self.buf.drain(..self.start);
            self.scanned -= self.start.min(self.scanned);
            self.searched -= self.start.min(self.searched);
            self.start = 0;
        }
    }

    /// Line mode without I/O: the next complete line already read, if any
    /// (at EOF also the final unterminated one).
    pub(crate) fn buffered_line(&mut self) -> Option<String> {
        self.next_buffered_line()
    }

    /// Detached mode: reads to EOF and keeps nothing, so a process whose
    /// handle was dropped never blocks on (or dies writing to) a full pipe.
    /// The line handler still sees every line.
    pub(crate) fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.handler().is_some() {
                while self.next_buffered_line().is_some() {}
                self.compact();
            } else {
                self.buf.clear();
                self.start = 0;
                self.scanned = 0;
                self.searched = 0;
            }
            if self.eof {
                return Poll::Ready(());
            }
            match self.poll_fill(cx, CHUNK, CHUNK) {
                Poll::Ready(_) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Line mode: the next line, or `None` at EOF.
    pub(crate) fn poll_line(&mut self, cx: &mut Context<'_>) -> Poll<Option<String>> {
        loop {
            if let Some(line) = self.next_buffered_line() {
                return Poll::Ready(Some(line));
            }
            if self.eof {
                return Poll::Ready(None);
            }
            self.compact();
            match self.poll_fill(cx, CHUNK, CHUNK) {
                Poll::Ready(_) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Runs the handler over complete lines read so far (capture mode).
    fn scan_for_handler(&mut self) {
        let Some(h) = self.hooks.as_ref().and_then(|h| h.handler.as_ref()) else {
            return;
        };
        loop {
            let pending = &self.buf[self.scanned..];
            let (raw_end, next) = match pending.iter().position(|&b| b == b'\n') {
                Some(i) if i <= MAX_LINE => (i, i + 1),
                _ if pending.len() >= MAX_LINE => (MAX_LINE, MAX_LINE),
                _ if self.eof && !pending.is_empty() => (pending.len(), pending.len()),
                _ => return,
            };
            h(&to_text(&pending[..raw_end], self.strip));
            self.scanned += next;
        }
    }

    /// Capture mode: reads until EOF, keeping everything (or, with a cap,
    /// what the cap keeps).
    pub(crate) fn poll_capture(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.scanned < self.start {
            self.scanned = self.start;
        }
        loop {
            if self.eof {
                self.scan_for_handler();
                self.spill();
                return Poll::Ready(());
            }
            let (want, max) = if self.bounded.is_some() {
                (CHUNK, CHUNK)
            } else {
                (self.capture_want(), usize::MAX)
            };
            match self.poll_fill(cx, want, max) {
                Poll::Ready(_) => {
                    self.scan_for_handler();
                    self.spill();
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Buffer mode: reads what is available (up to `cap` bytes buffered)
    /// without consuming it, so later line reads still see it. Never returns
    /// `Ready` before EOF; used to keep a pipe from filling up while waiting.
    pub(crate) fn poll_buffer(&mut self, cx: &mut Context<'_>, cap: usize) -> Poll<()> {
        loop {
            if self.eof {
                return Poll::Ready(());
            }
            if self.buf.len() - self.start >= cap {
                return Poll::Pending;
            }
            match self.poll_fill(cx, CHUNK, CHUNK) {
                Poll::Ready(_) => {}
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Everything not yet handed out, as bytes. Runs the handler over a final
    /// partial line.
    pub(crate) fn take_captured(&mut self) -> Vec<u8> {
        let was_eof = self.eof;
        self.eof = true;
        self.scan_for_handler();
        self.spill();
        self.eof = was_eof;
        if let Some(b) = self.bounded.as_mut() {
            self.buf.clear();
            self.start = 0;
            self.scanned = 0;
            self.searched = 0;
            return b.take();
        }
        let mut out = std::mem::take(&mut self.buf);
        if self.start > 0 {
            out.drain(..self.start);
        }
        self.start = 0;
        self.scanned = 0;
        self.searched = 0;
        out
    }

    /// Detached mode without a runtime: goes on reading to EOF (the line
    /// handler still sees every line) through a blocking copy of the pipe,
    /// on a thread of its own, so a detached process is never killed by
    /// `SIGPIPE` because the runtime that read its output is gone. Returns
    /// `false` (and the pipe closes with the pump) where there is no
    /// blocking copy or no thread can start.
    pub(crate) fn drain_on_thread(mut self) -> bool {
        if self.eof {
            return true;
        }
        let Some(file) = self.pipe.as_ref().and_then(|p| p.blocking_copy()) else {
            return false;
        };
        self.pipe = Some(Box::new(BlockingRead(file)));
        // Nothing in this pump may need a runtime now: no inactivity clock.
        if let Some(h) = self.hooks.as_mut() {
            h.activity = None;
        }
        std::thread::Builder::new()
            .name("processkit-drain".into())
            .spawn(move || {
                let mut cx = Context::from_waker(std::task::Waker::noop());
                // Every read blocks until data or EOF, so this never spins.
                while self.poll_discard(&mut cx).is_pending() {}
            })
            .is_ok()
    }

    /// Drops the pipe (the child gets EPIPE / SIGPIPE on further writes).
    pub(crate) fn close(&mut self) {
        self.pipe = None;
        self.eof = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn pump_over(data: &'static [u8], handler: Option<LineHandler>) -> Pump {
        Pump::new(Some(Box::new(data) as ReadPipe), handler)
    }

    async fn lines(mut p: Pump) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(l) = std::future::poll_fn(|cx| p.poll_line(cx)).await {
            out.push(l);
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_with_crlf_and_no_final_newline() {
        let got = lines(pump_over(b"a\r\nb\n\nlast", None)).await;
        assert_eq!(got, ["a", "b", "", "last"]);
    }

    #[tokio::test]
    async fn invalid_utf8_is_replaced_not_panicking() {
        let got = lines(pump_over(b"ok\xff\xfe\n", None)).await;
        assert_eq!(got, ["ok\u{fffd}\u{fffd}"]);
    }

    #[tokio::test]
    async fn capture_is_lossless_and_runs_handler_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let handler: LineHandler = Arc::new(move |l: &str| s2.lock().unwrap().push(l.to_owned()));
        let mut p = pump_over(b"x\xff\ny\nz", Some(handler));
        std::future::poll_fn(|cx| p.poll_capture(cx)).await;
        assert_eq!(p.take_captured(), b"x\xff\ny\nz");
        assert_eq!(*seen.lock().unwrap(), ["x\u{fffd}", "y", "z"]);
    }

    /// A reader that hands out `data` in pieces of the given sizes (cycled),
    /// returning `Pending` (after a wake) between pieces, like a pipe that a
    /// slow writer fills bit by bit.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        sizes: Vec<usize>,
        turn: usize,
        pending_next: bool,
    }

    impl crate::sys::PipeRead for Trickle {}

    impl tokio::io::AsyncRead for Trickle {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if self.pending_next {
                self.pending_next = false;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let size = self.sizes[self.turn % self.sizes.len()].max(1);
            self.turn += 1;
            let n = size.min(self.data.len() - self.pos).min(buf.remaining());
            let pos = self.pos;
            buf.put_slice(&self.data[pos..pos + n]);
            self.pos += n;
            self.pending_next = true;
            Poll::Ready(Ok(()))
        }
    }

    fn trickle(data: Vec<u8>, sizes: Vec<usize>) -> Pump {
        Pump::new(
            Some(Box::new(Trickle {
                data,
                pos: 0,
                sizes,
                turn: 0,
                pending_next: false,
            }) as ReadPipe),
            None,
        )
    }

    /// The splitting rules, written the obvious way.
    fn reference_lines(data: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let (line, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) if i <= MAX_LINE => (&rest[..i], &rest[i + 1..]),
                _ if rest.len() >= MAX_LINE => (&rest[..MAX_LINE], &rest[MAX_LINE..]),
                _ => (rest, &rest[rest.len()..]),
            };
            out.push(to_text(line, false));
            rest = next;
        }
        out
    }

    #[tokio::test]
    async fn a_line_arriving_in_pieces_is_joined() {
        let got = lines(trickle(b"he\r\nllo wor\nld\n\nend".to_vec(), vec![1, 2, 3])).await;
        assert_eq!(got, ["he", "llo wor", "ld", "", "end"]);
    }

    #[tokio::test]
    async fn an_overlong_line_arriving_in_pieces_is_split_at_the_cap() {
        let mut data = vec![b'x'; MAX_LINE + 5];
        data.extend_from_slice(b"\nshort\n");
        let got = lines(trickle(data, vec![4096, 70_000, 1])).await;
        assert_eq!(
            got.iter().map(String::len).collect::<Vec<_>>(),
            [MAX_LINE, 5, 5]
        );
        assert_eq!(got[2], "short");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn lines_match_the_reference_for_any_read_pattern(
            data in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(b'\n'),
                proptest::strategy::Just(b'\r'),
                proptest::strategy::Just(0xffu8),
                0x20u8..0x7f
            ], 0..2000),
            sizes in proptest::collection::vec(1usize..300, 1..8),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            let got = rt.block_on(lines(trickle(data.clone(), sizes)));
            proptest::prop_assert_eq!(got, reference_lines(&data));
        }
    }

    #[tokio::test]
    async fn overlong_line_is_split_at_the_cap() {
        let big: &'static [u8] = Box::leak(vec![b'a'; MAX_LINE * 2 + 10].into_boxed_slice());
        let got = lines(pump_over(big, None)).await;
        assert_eq!(
            got.iter().map(String::len).collect::<Vec<_>>(),
            [MAX_LINE, MAX_LINE, 10]
        );
    }
}
