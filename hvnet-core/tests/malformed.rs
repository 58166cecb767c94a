//! Every malformed config in `tests/malformed/` is rejected with a diagnostic naming the
//! expected line, field and problem. Each file's first line says what to expect:
//! `# expect: LINE FIELD | MESSAGE FRAGMENT`.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use hvnet_core::config::{Config, NoAccounts};

struct Case {
    file: String,
    bytes: Vec<u8>,
    line: usize,
    field: String,
    fragment: String,
}

fn cases() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/malformed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/malformed exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            // Bytes: one case is a file that is not UTF-8.
            let bytes = std::fs::read(&p).expect("readable");
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let head = text.lines().next().expect("expect line");
            let spec = head.strip_prefix("# expect: ").expect("expect header");
            let (loc, fragment) = spec.split_once(" | ").expect("LINE FIELD | MSG");
            let (line, field) = loc.split_once(' ').expect("LINE FIELD");
            Case {
                file: p.file_name().expect("name").to_string_lossy().into_owned(),
                bytes,
                line: line.parse().expect("line number"),
                field: field.to_string(),
                fragment: fragment.trim_end().to_string(),
            }
        })
        .collect()
}

#[test]
fn at_least_ninety_malformed_configs() {
    assert!(cases().len() >= 90, "{}", cases().len());
}

#[test]
fn each_is_rejected_with_line_field_and_message() {
    let mut failures = Vec::new();
    for c in cases() {
        match Config::parse_bytes(&c.bytes, &c.file, &NoAccounts) {
            Ok(_) => failures.push(format!("{}: accepted", c.file)),
            Err(e) => {
                let hit = e.diagnostics.iter().any(|d| {
                    d.file == c.file
                        && d.line == c.line
                        && d.field == c.field
                        && d.message.contains(&c.fragment)
                });
                if !hit {
                    failures.push(format!(
                        "{}: expected line {} field {} containing {:?}, got:\n{e}",
                        c.file, c.line, c.field, c.fragment
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn several_problems_are_all_reported() {
    let text = "[[network]]\nname = \"a\"\nkind = \"weird\"\nbridge = \"this-name-is-too-long\"\nmtu = 1\n";
    let e = Config::parse(text, "multi.toml").unwrap_err();
    let fields: Vec<&str> = e.diagnostics.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(
        fields,
        ["network[0].kind", "network[0].bridge", "network[0].mtu"]
    );
    assert!(e
        .to_string()
        .starts_with("multi.toml:3:8: network[0].kind: unknown network kind"));
}

#[test]
fn a_bridge_holds_at_most_1023_ports() {
    let mut t = String::from("[[network]]\nname = \"n\"\nkind = \"internal\"\nbridge = \"br0\"\n");
    for i in 0..1023 {
        t.push_str(&format!(
            "[[guest]]\nname = \"g{i}\"\n[[guest.nic]]\nnetwork = \"n\"\n"
        ));
    }
    assert!(Config::parse(&t, "ports.toml").is_ok());
    t.push_str("[[guest]]\nname = \"one-more\"\n[[guest.nic]]\nnetwork = \"n\"\n");
    let e = Config::parse(&t, "ports.toml").unwrap_err();
    assert_eq!(e.diagnostics.len(), 1);
    assert_eq!(e.diagnostics[0].field, "guest[1023].nic[0].network");
    assert!(
        e.diagnostics[0].message.contains("more than 1023 ports"),
        "{e}"
    );
}
