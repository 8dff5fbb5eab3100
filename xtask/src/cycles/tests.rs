//! The checker on small planted crates: a one-way crate passes; circles
//! and upward `sys` imports fail.

use super::*;

fn krate(files: &[(&str, &str)]) -> BTreeMap<ModPath, String> {
    files
        .iter()
        .map(|(m, s)| {
            let path = if m.is_empty() {
                Vec::new()
            } else {
                m.split("::").map(String::from).collect()
            };
            (path, s.to_string())
        })
        .collect()
}

#[test]
fn a_one_way_crate_passes() {
    let c = krate(&[
        ("", "mod a; mod b; mod sys; pub use a::A; pub use b::B;"),
        ("a", "use crate::b::B; pub struct A(B);"),
        (
            "b",
            "use crate::sys::raw; pub struct B; fn f() { crate::sys::raw::go(); }",
        ),
        ("sys", "pub mod raw; pub use raw::Kind;"),
        ("sys::raw", "pub enum Kind {} pub fn go() {}"),
    ]);
    assert_eq!(check_crate(&c), Vec::<String>::new());
}

#[test]
fn a_planted_circle_fails() {
    let c = krate(&[
        ("", "mod a; mod b; mod c;"),
        ("a", "use crate::b::B; pub struct A;"),
        ("b", "use super::c::{self, C}; pub struct B;"),
        (
            "c",
            "pub struct C; fn f(a: crate::a::A) -> crate::a::A { a }",
        ),
    ]);
    let p = check_crate(&c);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("import circle: a -> b -> c -> a"), "{p:?}");
}

#[test]
fn a_circle_through_a_reexport_is_followed_to_the_defining_file() {
    // `crate::Thing` is re-exported by the root from `deep`; `deep`
    // imports `top`, and `top` names `crate::Thing`: a circle top <-> deep.
    let c = krate(&[
        ("", "mod top; mod deep; pub use deep::Thing;"),
        ("top", "pub struct T; fn f(_: crate::Thing) {}"),
        ("deep", "use crate::top::T; pub struct Thing;"),
    ]);
    let p = check_crate(&c);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].contains("deep -> top -> deep") || p[0].contains("top -> deep -> top"),
        "{p:?}"
    );
}

#[test]
fn sys_reaching_up_fails_and_a_test_module_is_part_of_its_file() {
    let c = krate(&[
        ("", "mod sys; mod mechanism;"),
        ("mechanism", "pub enum Mechanism {}"),
        (
            "sys",
            "pub mod unix; #[cfg(test)] mod tests { use super::*; use super::unix::X; }",
        ),
        (
            "sys::unix",
            "use crate::mechanism::Mechanism; pub struct X;",
        ),
    ]);
    let p = check_crate(&c);
    assert_eq!(
        p,
        vec!["sys::unix imports mechanism from above sys/".to_string()]
    );
}

#[test]
fn comments_strings_and_visibility_paths_are_not_imports() {
    let c = krate(&[
        ("", "mod a; mod b;"),
        (
            "a",
            "// use crate::b::B;\n/* crate::b::x */ pub(in crate::b) fn f() { \
             let _ = \"crate::b::y\"; let _ = r#\"crate::b::z\"#; let _c = 'x'; }\n\
             pub struct A<'a>(&'a u8);",
        ),
        ("b", "use crate::a::A;"),
    ]);
    assert_eq!(check_crate(&c), Vec::<String>::new());
}

#[test]
fn a_child_importing_its_parents_own_item_is_a_circle() {
    let c = krate(&[
        ("", "mod sys;"),
        (
            "sys",
            "mod unix; pub struct Spec; fn f() { unix::spawn(); }",
        ),
        ("sys::unix", "use super::Spec; pub fn spawn() {}"),
    ]);
    let p = check_crate(&c);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("import circle:"), "{p:?}");
}

#[test]
fn the_baseline_accepts_only_what_it_lists_and_reports_stale_lines() {
    let problems = vec![
        "crates/a/src: import circle: sys -> sys::x -> sys (component: sys, sys::x)".to_string(),
        "crates/a/src: import circle: a -> b -> a (component: a, b)".to_string(),
        "crates/a/src/big.rs has 900 lines (at most 800)".to_string(),
    ];
    let baseline = "# known\ncircle-within crates/a/src sys\nlong-file crates/a/src/big.rs\n\
                    long-file crates/a/src/gone.rs\n";
    let (new, known, stale) = apply_baseline(problems, baseline).unwrap();
    assert_eq!(
        new,
        ["crates/a/src: import circle: a -> b -> a (component: a, b)"]
    );
    assert_eq!(known.len(), 2);
    assert_eq!(stale, ["long-file crates/a/src/gone.rs"]);
    assert!(apply_baseline(Vec::new(), "ignore everything").is_err());
}

#[test]
fn a_circle_leaving_the_listed_module_is_not_excused() {
    let problems =
        vec!["k: import circle: sys -> group -> sys (component: group, sys)".to_string()];
    let (new, _, stale) = apply_baseline(problems, "circle-within k sys").unwrap();
    assert_eq!(new.len(), 1);
    assert_eq!(stale, ["circle-within k sys"]);
}
