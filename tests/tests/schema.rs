//! `hvnet schema` and the committed `hvnet.schema.json`: the file is what the binary prints
//! (regenerate it with `cargo run -p hvnet-cli -- schema > hvnet.schema.json`), and the schema
//! accepts the documented and demo configs and rejects the shape errors the parser rejects.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use hvnet_tests::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn committed_schema_is_current() {
    let r = hvnet_run(&["schema"], &[]);
    r.ok();
    let committed = std::fs::read_to_string(repo().join("hvnet.schema.json")).unwrap();
    assert!(
        r.stdout == committed,
        "hvnet.schema.json is stale: regenerate it with \
         `cargo run -p hvnet-cli -- schema > hvnet.schema.json`"
    );
}

/// Validates TOML files against the schema with Debian's python3-jsonschema (tomllib needs
/// Python 3.11); prints one `NAME ok|invalid` line per file.
const CHECK: &str = r#"
import json, sys, tomllib, jsonschema
schema = json.load(open(sys.argv[1]))
v = jsonschema.Draft202012Validator(schema)
for name in sys.argv[2:]:
    text = open(name).read()
    if name.endswith("README.md"):
        text = text.split("```toml\n", 1)[1].split("```", 1)[0]
    errs = list(v.iter_errors(tomllib.loads(text)))
    print(name, "ok" if not errs else "invalid: " + errs[0].message)
"#;

#[test]
fn schema_accepts_the_documented_config_and_rejects_shape_errors() {
    let py = "/usr/bin/python3";
    let probe = run(py, &["-c", "import tomllib, jsonschema"], 20);
    if probe.code != 0 {
        eprintln!("SKIP: {py} with tomllib and jsonschema (python3-jsonschema) is not installed");
        return;
    }
    let root = repo();
    let good = ["README.md", "hvnet-cli/src/demo.toml", "dist/hvnet.toml"];
    let bad = [
        "tests/malformed/03-unknown-kind.toml",
        "tests/malformed/11-unknown-field.toml",
        "tests/malformed/19-unknown-nic-type.toml",
        "tests/malformed/30-bad-lifetime.toml",
        "tests/malformed/32-mtu-wrong-type.toml",
        "tests/malformed/35-unknown-table.toml",
        "tests/malformed/39-rate-unknown-key.toml",
        "tests/malformed/58-bad-proto.toml",
    ];
    let schema = root.join("hvnet.schema.json");
    let mut args = vec![
        "-c".to_string(),
        CHECK.to_string(),
        schema.display().to_string(),
    ];
    args.extend(
        good.iter()
            .chain(&bad)
            .map(|f| root.join(f).display().to_string()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(py, &args, 60);
    r.ok();
    for f in good {
        let line = r.stdout.lines().find(|l| l.contains(f)).unwrap();
        assert!(line.ends_with(" ok"), "{line}");
    }
    for f in bad {
        let line = r.stdout.lines().find(|l| l.contains(f)).unwrap();
        assert!(
            line.contains(" invalid: "),
            "the schema accepts {f}\n{line}"
        );
    }
}
