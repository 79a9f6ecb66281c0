//! Shared by the integration tests that read the golden fixtures: the escape
//! decoding and the file format described in `fixtures/README.md`.

#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};

/// Decodes the fixture escapes: `\r \n \t \0 \s \\ \xHH`; raw newlines in the
/// file are layout only and are dropped.
pub fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = text.bytes().peekable();
    while let Some(c) = chars.next() {
        match c {
            b'\n' => {}
            b'\\' => match chars.next() {
                Some(b'r') => out.push(b'\r'),
                Some(b'n') => out.push(b'\n'),
                Some(b't') => out.push(b'\t'),
                Some(b'0') => out.push(0),
                Some(b's') => out.push(b' '),
                Some(b'\\') => out.push(b'\\'),
                Some(b'x') => {
                    let hex: String = [chars.next().unwrap(), chars.next().unwrap()]
                        .iter()
                        .map(|&b| b as char)
                        .collect();
                    out.push(u8::from_str_radix(&hex, 16).expect("bad \\x escape"));
                }
                other => panic!("unknown escape \\{:?}", other.map(|b| b as char)),
            },
            _ => out.push(c),
        }
    }
    out
}

/// A fixture file split into its `--- name` sections.
pub struct Fixture {
    path: PathBuf,
    sections: Vec<(String, String)>,
}

impl Fixture {
    pub fn load(path: &Path) -> Fixture {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            text.starts_with('#'),
            "{}: a fixture starts with a # comment saying what it covers",
            path.display()
        );
        let mut sections: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix("--- ") {
                sections.push((name.trim().to_string(), String::new()));
            } else if let Some((_, body)) = sections.last_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        Fixture {
            path: path.to_path_buf(),
            sections,
        }
    }

    pub fn section(&self, name: &str) -> &str {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_str())
            .unwrap_or_else(|| panic!("{}: no --- {name} section", self.path.display()))
    }
}

/// Every `.http` fixture under `tests/fixtures/<dir>`, sorted.
pub fn fixture_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "http"))
        .collect();
    files.sort();
    files
}
