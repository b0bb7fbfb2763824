//! `switchboard plugin new NAME [--lang rust|python|javascript]`: scaffolds
//! a provider plugin that builds and passes its own tests straight away
//! (templates in `templates/`, filled in with the plugin's names). The
//! three languages share the fixtures and behave the same.

use std::path::{Path, PathBuf};

use crate::server::StartError;

#[derive(clap::Args)]
pub struct NewArgs {
    /// The plugin's name: lower-case letters, digits and `-` (e.g. `acme-sms`).
    pub name: String,
    /// Where to create it (default `plugins/NAME`).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Path to the guest SDK crate (default: `../sdk` when creating under
    /// the repository's `plugins/`; Rust only).
    #[arg(long)]
    pub sdk: Option<PathBuf>,
    /// The plugin's language.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Javascript,
}

fn fail(msg: impl std::fmt::Display) -> StartError {
    StartError::Other(anyhow::anyhow!("{msg}"))
}

/// `acme-sms` → `acmeSms` (route paths in the providers' camelCase style).
fn camel(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn valid(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub fn run(args: &NewArgs) -> Result<(), StartError> {
    let name = args.name.as_str();
    if !valid(name) {
        return Err(fail(format!(
            "`{name}`: want lower-case letters, digits and `-`, starting with a letter"
        )));
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| Path::new("plugins").join(name));
    if dir.exists() {
        return Err(fail(format!("{} already exists", dir.display())));
    }
    let file = name.replace('-', "_");
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{camel}}", &camel(name))
            .replace("{{file}}", &file)
    };
    // The fixtures are the same in every language.
    let mut files: Vec<(&str, String)> = vec![
        (
            "fixtures/delivered.http",
            fill(include_str!("templates/delivered.http.txt")),
        ),
        (
            "fixtures/reject-missing-status.http",
            fill(include_str!("templates/reject.http.txt")),
        ),
        (
            "fixtures/config.toml",
            "# The plugin config the fixtures are valid under (flat key = \"value\").\n".into(),
        ),
    ];
    let t = |text: &str| fill(text);
    match args.lang {
        Lang::Rust => {
            let cargo = format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
                 [lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n\n\
                 [dependencies]\nswitchboard-plugin-sdk = {{ path = \"{}\" }}\n",
                rust_sdk(args, &dir)?.display()
            );
            files.extend([
                ("Cargo.toml", cargo),
                ("src/lib.rs", t(include_str!("templates/lib.rs.txt"))),
                ("src/tests.rs", t(include_str!("templates/tests.rs.txt"))),
                ("README.md", t(include_str!("templates/README.md.txt"))),
            ]);
        }
        Lang::Python => files.extend([
            ("app.py", t(include_str!("templates/python/app.py.txt"))),
            (
                "test_app.py",
                t(include_str!("templates/python/test_app.py.txt")),
            ),
            (
                "README.md",
                t(include_str!("templates/python/README.md.txt")),
            ),
        ]),
        Lang::Javascript => files.extend([
            (
                "plugin.js",
                t(include_str!("templates/javascript/plugin.js.txt")),
            ),
            (
                "package.json",
                t(include_str!("templates/javascript/package.json.txt")),
            ),
            (
                "test/plugin.test.mjs",
                t(include_str!(
                    "templates/javascript/test/plugin.test.mjs.txt"
                )),
            ),
            (
                "README.md",
                t(include_str!("templates/javascript/README.md.txt")),
            ),
        ]),
    }
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| fail(format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(&path, text).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    }
    println!(
        "created {} (plugin `{name}`, route /{}Callback)",
        dir.display(),
        camel(name)
    );
    let d = dir.display();
    match args.lang {
        Lang::Rust => {
            println!(
                "next:\n  cd {d}\n  cargo test\n  cargo build --release --target wasm32-wasip2"
            );
            println!(
                "  switchboard plugin test target/wasm32-wasip2/release/{file}.wasm fixtures/*.http --check"
            );
        }
        Lang::Python | Lang::Javascript => {
            let script = if args.lang == Lang::Python {
                "build-python.sh"
            } else {
                "build-js.sh"
            };
            println!(
                "next (from the repository):\n  plugins/{script} --test --dir {d} --out dist/plugins/{name}.wasm"
            );
            println!(
                "  switchboard plugin test dist/plugins/{name}.wasm {d}/fixtures/*.http --check"
            );
        }
    }
    Ok(())
}

/// The Rust SDK crate the new crate depends on.
fn rust_sdk(args: &NewArgs, dir: &Path) -> Result<PathBuf, StartError> {
    if let Some(p) = &args.sdk {
        return Ok(p.clone());
    }
    let beside = dir.parent().map(|p| p.join("sdk"));
    if beside
        .as_ref()
        .is_some_and(|p| p.join("Cargo.toml").exists())
    {
        Ok(PathBuf::from("../sdk"))
    } else {
        Err(fail(
            "cannot find the guest SDK beside the new plugin: pass --sdk PATH (the repository's plugins/sdk)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(camel("acme-sms"), "acmeSms");
        assert_eq!(camel("kannel"), "kannel");
        assert!(valid("acme-sms") && valid("a1"));
        assert!(!valid("Acme") && !valid("1x") && !valid("a_b") && !valid("a-") && !valid(""));
    }
}
