//! Every malformed config in `tests/malformed/` makes `hvnet apply` (and `validate`,
//! `plan`, `down`) exit 2 with a diagnostic `FILE:LINE:COL: FIELD: MESSAGE`, and touches
//! nothing. Each file's first line says what to expect:
//! `# expect: LINE FIELD | MESSAGE FRAGMENT`.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use hvnet_tests::*;

struct Case {
    path: PathBuf,
    line: usize,
    field: String,
    fragment: String,
}

fn cases() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("malformed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            // Lossy: one case is a file that is not UTF-8 (its header line is).
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            let head = text.lines().next().unwrap_or_default();
            let spec = head
                .strip_prefix("# expect: ")
                .unwrap_or_else(|| panic!("{}: no `# expect:` line", path.display()));
            let (loc, fragment) = spec.split_once(" | ").expect("LINE FIELD | MSG");
            let (line, field) = loc.split_once(' ').expect("LINE FIELD");
            Case {
                line: line.parse().expect("line number"),
                field: field.to_string(),
                fragment: fragment.trim_end().to_string(),
                path,
            }
        })
        .collect()
}

/// Whether some line of `stderr` is the expected diagnostic.
fn has_diagnostic(stderr: &str, c: &Case) -> bool {
    let at = format!("{}:{}:", c.path.display(), c.line);
    let field = format!(": {}: ", c.field);
    stderr
        .lines()
        .any(|l| l.contains(&at) && l.contains(&field) && l.contains(&c.fragment))
}

#[test]
fn every_malformed_config_is_rejected_with_exit_2_and_changes_nothing() {
    if !require_root() {
        return;
    }
    let all = cases();
    assert!(all.len() >= 37, "only {} malformed configs", all.len());

    // Some state to protect: an hvnet network with a guest, and a user's bridge and tap.
    let host = Netns::new("malformed");
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    let h = host.name();
    host.ip(&["link", "add", "userbr", "type", "bridge"]);
    host.ip(&["tuntap", "add", "dev", "usertap", "mode", "tap"]);
    host.ip(&["link", "set", "usertap", "master", "userbr", "up"]);
    let good = dir.write(
        "good.toml",
        "[[network]]\nname = \"keep\"\nkind = \"isolated\"\nbridge = \"keepbr\"\naddress = \"10.33.0.1/24\"\n\n\
         [[guest]]\nname = \"g\"\n[[guest.nic]]\nnetwork = \"keep\"\nifname = \"keeptap\"\n",
    );
    hv.apply(&good);
    assert!(link(h, "keeptap").is_some());
    let before = settled_snapshot(h);

    let mut failures = Vec::new();
    for c in &all {
        for cmd in [&["apply"][..], &["validate"], &["plan"], &["down"]] {
            let r = hv.run(&c.path, cmd);
            if r.code != 2 {
                failures.push(format!("{}: exit {} (want 2)\n{r}", cmd[0], r.code));
            } else if !has_diagnostic(&r.stderr, c) {
                failures.push(format!(
                    "{}: expected `{}:{}:` with field {} and {:?}\n{r}",
                    cmd[0],
                    c.path.display(),
                    c.line,
                    c.field,
                    c.fragment
                ));
            }
        }
        if let Err(d) = wait_snapshot(h, &before, false) {
            failures.push(format!("{}: namespace changed:\n{d}", c.path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_missing_config_file_is_exit_2() {
    if !require_root() {
        return;
    }
    let host = Netns::new("nocfg");
    let dir = TempDir::new();
    let hv = Hv::new(&host, &dir);
    host.ip(&["link", "add", "userbr", "type", "bridge"]);
    let before = settled_snapshot(host.name());
    let missing = dir.path().join("does-not-exist.toml");
    for cmd in [&["apply"][..], &["validate"], &["plan"], &["down"]] {
        let r = hv.run(&missing, cmd);
        r.expect_code(2);
        assert!(r.stderr.contains(&missing.display().to_string()), "{r}");
        assert!(r.stderr.contains("cannot read config"), "{r}");
    }
    assert_snapshot(host.name(), &before, &"apply of a missing config");
}
