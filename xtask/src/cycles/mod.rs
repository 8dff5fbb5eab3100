//! `cargo xtask cycle-check`: keeps the crate's house one-way.
//!
//! It reads every module file of each workspace crate, follows the paths its
//! `use` items and expressions name (`crate::…`, `super::…`, `self::…` and
//! paths through a child module), resolves each one through re-exports to the
//! file that defines the item, and fails on:
//!
//! - an import circle between two or more module files, direct or through
//!   others;
//! - a file under a crate's `sys/` that imports a module outside `sys/`
//!   (`sys` is the bottom floor: it reports upward and imports nothing back);
//! - a Rust source file anywhere in the workspace over [`MAX_LINES`] lines.
//!
//! The reader is deliberately small: it strips comments and literals, tracks
//! inline `mod name { … }` blocks, and knows the module tree from the files on
//! disk. Paths that leave the crate (std, dependencies) are ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The longest a source file may be.
pub const MAX_LINES: usize = 800;

/// A module path inside one crate: `[]` is the crate root, `["sys", "unix"]`
/// is `sys/unix/mod.rs` or `sys/unix.rs`.
type ModPath = Vec<String>;

pub fn run(args: &[String]) -> Result<(), String> {
    let show_edges = match args.first().map(String::as_str) {
        None => false,
        Some("--edges") => true,
        Some(a) => return Err(format!("cycle-check takes only --edges (got {a:?})")),
    };
    let root = crate::util::workspace_root();
    let mut problems = Vec::new();
    let mut modules = 0;
    for krate in crate_roots(&root) {
        let files = module_files(&krate)?;
        modules += files.len();
        let sources = files
            .iter()
            .map(|(m, p)| {
                fs::read_to_string(p)
                    .map(|s| (m.clone(), s))
                    .map_err(|e| format!("read {}: {e}", p.display()))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        let name = krate
            .strip_prefix(&root)
            .unwrap_or(&krate)
            .display()
            .to_string();
        if show_edges {
            for (from, tos) in edges_of(&sources) {
                for to in tos {
                    println!("{name}: {} -> {}", show(&from), show(&to));
                }
            }
        }
        for p in check_crate(&sources) {
            problems.push(format!("{name}: {p}"));
        }
    }
    let mut files = 0;
    for file in rust_files(&root) {
        files += 1;
        let text =
            fs::read_to_string(&file).map_err(|e| format!("read {}: {e}", file.display()))?;
        let lines = text.lines().count();
        if lines > MAX_LINES {
            let rel = file.strip_prefix(&root).unwrap_or(&file);
            problems.push(format!(
                "{} has {lines} lines (at most {MAX_LINES})",
                rel.display()
            ));
        }
    }
    if modules == 0 || files == 0 {
        return Err("no module or source file was read".into());
    }
    let baseline_path = root.join(BASELINE);
    let baseline = fs::read_to_string(&baseline_path).unwrap_or_default();
    let (problems, known, stale) = apply_baseline(problems, &baseline)?;
    for k in &known {
        println!("cycle-check: known, listed in {BASELINE}: {k}");
    }
    for s in &stale {
        eprintln!("cycle-check: {BASELINE} lists `{s}`, which no longer occurs: remove the line");
    }
    for p in &problems {
        eprintln!("cycle-check: {p}");
    }
    if problems.is_empty() && stale.is_empty() {
        println!(
            "cycle-check: {modules} modules, {files} source files: no new import circle, \
             sys/ imports nothing above it, no new file over {MAX_LINES} lines \
             ({} known exception(s))",
            known.len()
        );
        Ok(())
    } else {
        Err(format!(
            "{} problem(s), {} stale baseline line(s)",
            problems.len(),
            stale.len()
        ))
    }
}

/// The known exceptions still being worked off, relative to the workspace
/// root. The list may only shrink: a line that matches nothing fails too.
pub const BASELINE: &str = "xtask/cycle-check-baseline.txt";

/// Problems split by the baseline: (new, known, stale baseline lines).
pub type Sorted = (Vec<String>, Vec<String>, Vec<String>);

/// Splits `problems` into (new, known) by the baseline's lines, and returns
/// the baseline lines that matched nothing. Lines:
///
/// - `circle-within <crate dir> <module>`: an import circle in that crate
///   whose every member is `<module>` or below it;
/// - `long-file <path>`: that file may be over the line limit;
/// - blank or `#` lines are ignored. Anything else is an error.
pub fn apply_baseline(problems: Vec<String>, baseline: &str) -> Result<Sorted, String> {
    let mut rules = Vec::new();
    for line in baseline.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["circle-within", _, _] | ["long-file", _] => rules.push((line.to_string(), false)),
            _ => return Err(format!("{BASELINE}: cannot read the line `{line}`")),
        }
    }
    let mut new = Vec::new();
    let mut known = Vec::new();
    for p in problems {
        let hit = rules.iter_mut().find(|(rule, _)| matches_rule(rule, &p));
        match hit {
            Some((_, used)) => {
                *used = true;
                known.push(p);
            }
            None => new.push(p),
        }
    }
    let stale = rules
        .into_iter()
        .filter(|(_, used)| !used)
        .map(|(r, _)| r)
        .collect();
    Ok((new, known, stale))
}

fn matches_rule(rule: &str, problem: &str) -> bool {
    let words: Vec<&str> = rule.split_whitespace().collect();
    match words.as_slice() {
        ["circle-within", krate, module] => {
            let Some(rest) = problem.strip_prefix(&format!("{krate}: import circle: ")) else {
                return false;
            };
            let Some((_, members)) = rest.rsplit_once("(component: ") else {
                return false;
            };
            members
                .trim_end_matches(')')
                .split(", ")
                .all(|m| m == *module || m.starts_with(&format!("{module}::")))
        }
        ["long-file", path] => problem.starts_with(&format!("{path} has ")),
        _ => false,
    }
}

/// Every crate's `src/` directory in the workspace (the library crates and xtask).
fn crate_roots(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(root.join("crates")) {
        for e in rd.flatten() {
            out.push(e.path().join("src"));
        }
    }
    out.push(root.join("xtask/src"));
    out.retain(|p| p.is_dir());
    out.sort();
    out
}

/// Every `.rs` file of the workspace outside `target/` and hidden folders.
fn rust_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "target" {
                continue;
            }
            if p.is_dir() {
                walk(&p, out);
            } else if name.ends_with(".rs") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for top in ["crates", "xtask"] {
        walk(&root.join(top), &mut out);
    }
    out.sort();
    out
}

/// The module files of one crate, keyed by module path. `main.rs` and
/// `lib.rs` are both roots; when both exist, `lib.rs` wins (a binary that
/// uses its own library goes through the crate name, not `crate::`).
fn module_files(src: &Path) -> Result<BTreeMap<ModPath, PathBuf>, String> {
    fn walk(dir: &Path, prefix: &ModPath, out: &mut BTreeMap<ModPath, PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() {
                let mut m = prefix.clone();
                m.push(name);
                walk(&p, &m, out);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let mut m = prefix.clone();
                if prefix.is_empty() && (stem == "lib" || stem == "main") {
                    if stem == "main" && out.contains_key(&m) {
                        continue;
                    }
                } else if stem != "mod" {
                    m.push(stem.to_string());
                }
                out.insert(m, p);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &Vec::new(), &mut out);
    if src.join("lib.rs").is_file() {
        out.insert(Vec::new(), src.join("lib.rs"));
    }
    if out.is_empty() {
        return Err(format!("no module file under {}", src.display()));
    }
    Ok(out)
}

/// Checks one crate given its files' text; returns the problems found.
pub fn check_crate(sources: &BTreeMap<ModPath, String>) -> Vec<String> {
    let edges = edges_of(sources);
    let mut problems = Vec::new();
    for (from, tos) in &edges {
        if from.first().map(String::as_str) != Some("sys") {
            continue;
        }
        for to in tos {
            if to.first().map(String::as_str) != Some("sys") {
                problems.push(format!(
                    "{} imports {} from above sys/",
                    show(from),
                    show(to)
                ));
            }
        }
    }
    for scc in strongly_connected(&edges) {
        problems.push(format!("import circle: {}", describe_circle(&scc, &edges)));
    }
    problems
}

/// The import graph of one crate: each module file and the files it uses.
fn edges_of(sources: &BTreeMap<ModPath, String>) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let modules: BTreeSet<ModPath> = sources.keys().cloned().collect();
    let parsed: BTreeMap<ModPath, Parsed> = sources
        .iter()
        .map(|(m, s)| (m.clone(), parse(m, &strip(s), &modules)))
        .collect();
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (m, p) in &parsed {
        let out = edges.entry(m.clone()).or_default();
        for path in &p.paths {
            if let Some(target) = resolve(path, &parsed, &modules, 0)
                && &target != m
            {
                out.insert(target);
            }
        }
    }
    edges
}

fn show(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// One file, read: the absolute paths (crate-rooted segments) it names, and
/// the names its `use` items bind at file level (for re-export resolution).
#[derive(Default)]
struct Parsed {
    paths: Vec<ModPath>,
    bindings: BTreeMap<String, ModPath>,
}

/// Blanks comments, string and char literals (keeping newlines), so that
/// the tokenizer sees only code.
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !b
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &x in &b[i..j.min(b.len())] {
                out.push(blank(x));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            let close = if next == Some('\\') {
                (i + 2..b.len().min(i + 12)).find(|&k| b[k] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(k) => {
                    for _ in i..=k {
                        out.push(' ');
                    }
                    i = k + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn tokens(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let cs: Vec<char> = src.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_' || cs[i] == '$') {
                i += 1;
            }
            out.push(cs[start..i].iter().collect());
        } else if c == ':' && cs.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

/// Reads one file's tokens into the paths it names.
fn parse(file: &ModPath, src: &str, modules: &BTreeSet<ModPath>) -> Parsed {
    let toks = tokens(src);
    let mut parsed = Parsed::default();
    // Inline `mod x {` blocks: (name, brace depth at which it closes).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].as_str();
        match t {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            "mod" if toks.get(i + 2).map(String::as_str) == Some("{") => {
                inline.push((toks[i + 1].clone(), depth));
            }
            "use" => {
                let here: ModPath = file
                    .iter()
                    .cloned()
                    .chain(inline.iter().map(|(n, _)| n.clone()))
                    .collect();
                let mut j = i + 1;
                let mut found = Vec::new();
                use_tree(&toks, &mut j, Vec::new(), &mut found);
                for (segs, bind) in found {
                    if let Some(abs) = absolute(&here, file, &segs, modules) {
                        if inline.is_empty()
                            && let Some(name) = bind
                        {
                            parsed.bindings.insert(name, abs.clone());
                        }
                        parsed.paths.push(abs);
                    }
                }
                i = j;
                continue;
            }
            "crate" | "super" | "self"
                if toks.get(i + 1).map(String::as_str) == Some("::")
                    && !matches!(
                        toks.get(i.wrapping_sub(1)).map(String::as_str),
                        Some("::" | "in")
                    ) =>
            {
                let here: ModPath = file
                    .iter()
                    .cloned()
                    .chain(inline.iter().map(|(n, _)| n.clone()))
                    .collect();
                let mut segs = vec![t.to_string()];
                let mut j = i + 1;
                while toks.get(j).map(String::as_str) == Some("::")
                    && toks.get(j + 1).is_some_and(|s| is_ident(s))
                {
                    segs.push(toks[j + 1].clone());
                    j += 2;
                }
                if let Some(abs) = absolute(&here, file, &segs, modules) {
                    parsed.paths.push(abs);
                }
                i = j;
                continue;
            }
            _ if is_ident(t)
                && toks.get(i + 1).map(String::as_str) == Some("::")
                && !matches!(toks.get(i.wrapping_sub(1)).map(String::as_str), Some("::")) =>
            {
                // A path through a child module of this file (`unix::spawn(…)`).
                let mut child = file.clone();
                child.push(t.to_string());
                if inline.is_empty() && modules.contains(&child) {
                    let mut segs = vec![t.to_string()];
                    let mut j = i + 1;
                    while toks.get(j).map(String::as_str) == Some("::")
                        && toks.get(j + 1).is_some_and(|s| is_ident(s))
                    {
                        segs.push(toks[j + 1].clone());
                        j += 2;
                    }
                    if let Some(abs) = absolute(file, file, &segs, modules) {
                        parsed.paths.push(abs);
                    }
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    parsed
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && !s.contains('$')
}

/// Reads one use tree starting at `toks[*j]`, appending (full path, bound
/// name) pairs; a glob binds no name. Stops after the tree (at `,`, `}` or `;`).
fn use_tree(
    toks: &[String],
    j: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>)>,
) {
    let mut segs = prefix;
    if toks.get(*j).map(String::as_str) == Some("::") {
        *j += 1;
    }
    loop {
        match toks.get(*j).map(String::as_str) {
            Some("{") => {
                *j += 1;
                loop {
                    match toks.get(*j).map(String::as_str) {
                        Some("}") => {
                            *j += 1;
                            break;
                        }
                        Some(",") => *j += 1,
                        None => return,
                        _ => use_tree(toks, j, segs.clone(), out),
                    }
                }
                return;
            }
            Some("*") => {
                *j += 1;
                out.push((segs, None));
                return;
            }
            Some(s) if is_ident(s) => {
                segs.push(s.to_string());
                *j += 1;
                if toks.get(*j).map(String::as_str) == Some("::") {
                    *j += 1;
                    continue;
                }
                let mut bind = segs.last().cloned();
                if bind.as_deref() == Some("self") {
                    segs.pop();
                    bind = segs.last().cloned();
                }
                if toks.get(*j).map(String::as_str) == Some("as") {
                    bind = toks.get(*j + 1).cloned().filter(|b| b != "_");
                    *j += 2;
                }
                out.push((segs, bind));
                return;
            }
            _ => {
                // `;` or something this reader does not know: end of tree.
                if toks.get(*j).map(String::as_str) == Some(";") {
                    *j += 1;
                }
                return;
            }
        }
    }
}

/// Turns a path as written in module `here` (whose file is `file`) into
/// crate-rooted segments, or `None` when it leaves the crate.
fn absolute(
    here: &ModPath,
    file: &ModPath,
    segs: &[String],
    modules: &BTreeSet<ModPath>,
) -> Option<ModPath> {
    let mut base = here.clone();
    let mut rest = segs;
    match segs.first().map(String::as_str)? {
        "crate" => {
            base.clear();
            rest = &segs[1..];
        }
        "self" => rest = &segs[1..],
        "super" => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        first => {
            // A bare path: a child module of the file, or something outside.
            let mut child = file.clone();
            child.push(first.to_string());
            if here == file && modules.contains(&child) {
                base = file.clone();
            } else {
                return None;
            }
        }
    }
    // Inline modules are part of their file: cut the path back to a file.
    while !base.is_empty() && !modules.contains(&base) {
        base.pop();
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The file module that defines what `path` names, following `use`
/// re-exports; `None` when the path leaves the crate.
fn resolve(
    path: &ModPath,
    parsed: &BTreeMap<ModPath, Parsed>,
    modules: &BTreeSet<ModPath>,
    hops: usize,
) -> Option<ModPath> {
    let mut m: ModPath = Vec::new();
    let mut k = 0;
    while k < path.len() {
        let mut next = m.clone();
        next.push(path[k].clone());
        if modules.contains(&next) {
            m = next;
            k += 1;
        } else {
            break;
        }
    }
    if k == path.len() || hops > 16 {
        return Some(m);
    }
    let name = &path[k];
    if let Some(target) = parsed.get(&m).and_then(|p| p.bindings.get(name)) {
        let mut full = target.clone();
        full.extend(path[k + 1..].iter().cloned());
        if &full != path {
            return resolve(&full, parsed, modules, hops + 1).or(Some(m));
        }
    }
    Some(m)
}

/// Tarjan's strongly connected components with more than one member.
fn strongly_connected(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    struct State<'a> {
        edges: &'a BTreeMap<ModPath, BTreeSet<ModPath>>,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on: BTreeSet<&'a ModPath>,
        out: Vec<Vec<ModPath>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a ModPath) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        if let Some(ws) = s.edges.get(v) {
            for w in ws {
                let Some((w, _)) = s.edges.get_key_value(w) else {
                    continue;
                };
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if s.on.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// One concrete circle inside a component, as `a -> b -> a`.
fn describe_circle(scc: &[ModPath], edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> String {
    let members: BTreeSet<&ModPath> = scc.iter().collect();
    let start = &scc[0];
    // Breadth-first from start back to start, inside the component.
    let mut prev: BTreeMap<&ModPath, &ModPath> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    let mut end = None;
    'bfs: while let Some(v) = queue.pop_front() {
        for w in edges.get(v).into_iter().flatten() {
            if !members.contains(w) {
                continue;
            }
            if w == start {
                end = Some(v);
                break 'bfs;
            }
            if !prev.contains_key(w) {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    let mut chain = vec![show(start)];
    let mut v = end;
    while let Some(x) = v {
        if x == start {
            break;
        }
        chain.push(show(x));
        v = prev.get(x).copied();
    }
    chain.push(show(start));
    chain.reverse();
    let all: Vec<String> = scc.iter().map(show).collect();
    format!("{} (component: {})", chain.join(" -> "), all.join(", "))
}

#[cfg(test)]
mod tests;
