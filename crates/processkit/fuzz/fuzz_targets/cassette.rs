//! Feeds arbitrary bytes to the record/replay cassette parser: malformed
//! input must come back as an error, never a panic, an abort or a hang.

#![no_main]

use libfuzzer_sys::fuzz_target;
use processkit::RecordReplayRunner;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(runner) = RecordReplayRunner::from_json_str(&text) {
        // A cassette that parses must also encode again, and re-parse.
        let json = runner.to_json().expect("a parsed cassette encodes");
        RecordReplayRunner::from_json_str(&json).expect("an encoded cassette parses");
    }
});
