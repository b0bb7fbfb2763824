//! Keeps the dependencies one way: every module may import only modules
//! declared below it in `lib.rs` (the map, in flow order). Reads the
//! `crate::` paths of every source file, tests excluded (a test may build
//! its fixtures with anything), and fails naming each backwards import.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules in `lib.rs` order, then `route` (the SDK's,
/// re-exported: a leaf).
fn order(lib: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cfg_test = false;
    for line in lib.lines().map(str::trim) {
        if line == "#[cfg(test)]" {
            cfg_test = true;
            continue;
        }
        let decl = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
            .and_then(|rest| rest.strip_suffix(';'));
        if let Some(name) = decl
            && !std::mem::take(&mut cfg_test)
        {
            out.push(name.to_owned());
        }
    }
    out.push("route".to_owned());
    out
}

fn is_test_file(rel: &Path) -> bool {
    rel.components().any(|c| c.as_os_str() == "tests")
        || rel
            .file_stem()
            .is_some_and(|s| s == "tests" || s.to_string_lossy().ends_with("_tests"))
}

/// The source without comments and without an inline `mod tests { .. }`
/// at its end.
fn production_code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every (line, module) a file's code names through `crate::`, grouped
/// imports (`use crate::{a, b::c}`) included.
fn imports(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start => {
                        item_start = false;
                        let name: String = group[i..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        out.push((line_of(at), name));
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push((line_of(at), name));
        }
    }
    out
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_imports_only_modules_below_it_in_lib_rs() {
    let root = src();
    let order = order(&std::fs::read_to_string(root.join("lib.rs")).unwrap());
    assert!(order.len() > 20, "lib.rs lists only {order:?}");
    let rank = |m: &str| order.iter().position(|o| o == m);
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut backwards = Vec::new();
    let mut checked = 0;
    for path in all {
        let rel = path.strip_prefix(&root).unwrap().to_path_buf();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        let Some(own) = rank(&top) else { continue };
        if is_test_file(&rel) {
            continue;
        }
        let code = production_code(&std::fs::read_to_string(&path).unwrap());
        for (line, module) in imports(&code) {
            checked += 1;
            match rank(&module) {
                Some(r) if r < own => backwards.push(format!(
                    "{}:{line}: `{top}` imports `{module}`, which lib.rs declares above it",
                    rel.display()
                )),
                Some(_) => {}
                None => backwards.push(format!(
                    "{}:{line}: `crate::{module}` is not a module in lib.rs",
                    rel.display()
                )),
            }
        }
    }
    assert!(checked > 200, "only {checked} imports read");
    assert!(
        backwards.is_empty(),
        "imports against the flow (lib.rs order):\n{}",
        backwards.join("\n")
    );
}

#[test]
fn the_reader_finds_grouped_and_nested_imports() {
    let code = "use crate::{config::{A, B}, event::Event};\nfn f() { crate::time::now_ms(); }\n";
    let found: Vec<String> = imports(code).into_iter().map(|(_, m)| m).collect();
    assert_eq!(found, ["config", "event", "time"]);
    assert_eq!(imports(code)[2].0, 2);
    let code = production_code(
        "use crate::a; // crate::b\n#[cfg(test)]\nmod tests {\n use crate::c;\n}\n",
    );
    let found: Vec<String> = imports(&code).into_iter().map(|(_, m)| m).collect();
    assert_eq!(found, ["a"]);
}
