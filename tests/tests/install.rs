//! `scripts/install.sh` into a scratch root: the layout, man pages that render, completions
//! that load, units that pass `systemd-analyze verify`, an existing config that survives a
//! reinstall, and the opt-in hook links. Needs no root and touches nothing outside its
//! temporary directory.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use hvnet_tests::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn install(root: &Path, extra: &[&str]) -> Run {
    let script = repo().join("scripts/install.sh");
    let bin = hvnet_bin();
    let mut args = vec![
        "--prefix",
        "/usr",
        "--destdir",
        root.to_str().unwrap(),
        "--binary",
        bin.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let r = run(script.to_str().unwrap(), &args, 120);
    r.ok();
    r
}

#[test]
fn install_into_a_scratch_root() {
    let tmp = TempDir::new();
    let root = tmp.path().join("root");
    install(&root, &["--xen-hooks", "--qemu-hooks"]);
    let r = |p: &str| root.join(p.trim_start_matches('/'));

    for f in [
        "/usr/bin/hvnet",
        "/usr/lib/systemd/system/hvnet.service",
        "/usr/lib/systemd/system/hvnet-teardown.service",
        "/usr/lib/systemd/system/hvnet-try@.service",
        "/usr/share/man/man1/hvnet.1",
        "/usr/share/man/man1/hvnet-apply.1",
        "/usr/share/man/man1/hvnet-kvm-ifup.1",
        "/usr/share/bash-completion/completions/hvnet",
        "/usr/share/zsh/vendor-completions/_hvnet",
        "/usr/share/fish/vendor_completions.d/hvnet.fish",
        "/usr/share/hvnet/hvnet.schema.json",
        "/usr/share/hvnet/hvnet.toml",
        "/etc/hvnet/hvnet.toml",
    ] {
        assert!(r(f).is_file(), "{f} was not installed");
    }
    // One man page per subcommand: as many pages as `hvnet man` writes.
    let pages = std::fs::read_dir(r("/usr/share/man/man1")).unwrap().count();
    let direct = TempDir::new();
    hvnet_run(&["man", direct.path().to_str().unwrap()], &[]).ok();
    assert_eq!(pages, std::fs::read_dir(direct.path()).unwrap().count());
    assert!(pages > 20, "{pages} man pages");

    // The hook links point at the installed binary's final path; Xen's and QEMU's own
    // scripts are not replaced.
    for l in [
        "/etc/xen/scripts/vif-hvnet",
        "/etc/hvnet/qemu-ifup",
        "/etc/hvnet/qemu-ifdown",
    ] {
        assert_eq!(
            std::fs::read_link(r(l)).unwrap(),
            Path::new("/usr/bin/hvnet"),
            "{l}"
        );
    }
    assert!(!r("/etc/xen/scripts/vif-bridge").exists());
    assert!(!r("/etc/qemu-ifup").exists());

    // The units run the installed binary.
    let unit = std::fs::read_to_string(r("/usr/lib/systemd/system/hvnet.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/hvnet apply\n"), "{unit}");
    assert!(unit.contains("ExecReload=/usr/bin/hvnet apply\n"), "{unit}");

    // The installed example config is valid and changes nothing.
    hvnet_run(
        &[
            "-c",
            r("/etc/hvnet/hvnet.toml").to_str().unwrap(),
            "validate",
        ],
        &[],
    )
    .ok();

    if on_path("man") {
        let m = run(
            "man",
            &[
                "-l",
                r("/usr/share/man/man1/hvnet-apply.1").to_str().unwrap(),
            ],
            30,
        );
        m.ok();
        assert!(m.stdout.contains("hvnet-apply"), "{m}");
        assert!(m.stdout.contains("--confirm"), "{m}");
    } else {
        eprintln!("SKIP man -l: man-db is not installed");
    }

    let bash = r("/usr/share/bash-completion/completions/hvnet");
    let b = run(
        "bash",
        &[
            "-c",
            &format!("source '{}' && complete -p hvnet", bash.display()),
        ],
        30,
    );
    b.ok();
    assert!(b.stdout.contains("-F _hvnet hvnet"), "{b}");
    // The completion function offers the subcommands.
    let words = run(
        "bash",
        &[
            "-c",
            &format!(
                "source '{}'; COMP_WORDS=(hvnet ap); COMP_CWORD=1; _hvnet hvnet ap hvnet; echo \"${{COMPREPLY[@]}}\"",
                bash.display()
            ),
        ],
        30,
    );
    assert!(words.stdout.contains("apply"), "{words}");
    for (shell, file, check) in [
        ("zsh", "/usr/share/zsh/vendor-completions/_hvnet", "-n"),
        (
            "fish",
            "/usr/share/fish/vendor_completions.d/hvnet.fish",
            "-n",
        ),
    ] {
        if on_path(shell) {
            run(shell, &[check, r(file).to_str().unwrap()], 30).ok();
        } else {
            eprintln!("SKIP {shell} syntax check: {shell} is not installed");
        }
    }

    verify_units(&root);
}

/// `systemd-analyze verify` of every unit (the template as an instance), with the binary
/// path pointed into the scratch root and MANPATH at its man pages, so that the checks of
/// ExecStart= and Documentation= run against what was installed. Any output is a failure:
/// verify reports unknown keys and bad values as warnings with exit 0.
fn verify_units(root: &Path) {
    if !on_path("systemd-analyze") {
        eprintln!("SKIP systemd-analyze verify: systemd is not installed");
        return;
    }
    let units = TempDir::new();
    let bin = root.join("usr/bin/hvnet");
    let mut files = vec![];
    for e in std::fs::read_dir(root.join("usr/lib/systemd/system")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().replace("@.", "@2m.");
        let text = std::fs::read_to_string(e.path())
            .unwrap()
            .replace("/usr/bin/hvnet", bin.to_str().unwrap());
        files.push(units.write(&name, &text).display().to_string());
    }
    assert_eq!(files.len(), 3, "{files:?}");
    let manpath = root.join("usr/share/man");
    let mut args = vec!["verify"];
    args.extend(files.iter().map(String::as_str));
    let out = std::process::Command::new("systemd-analyze")
        .args(&args)
        .env("MANPATH", &manpath)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty() && out.stdout.is_empty(),
        "systemd-analyze verify {files:?}: {}\n{stderr}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn reinstall_keeps_an_existing_config() {
    let tmp = TempDir::new();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc/hvnet")).unwrap();
    let mine = "# mine\n[[network]]\nname = \"x\"\nkind = \"isolated\"\nbridge = \"hvx0\"\n";
    std::fs::write(root.join("etc/hvnet/hvnet.toml"), mine).unwrap();
    let r = install(&root, &[]);
    assert!(r.stdout.contains("kept the existing"), "{r}");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/hvnet/hvnet.toml")).unwrap(),
        mine
    );
    // Without --xen-hooks/--qemu-hooks no hook links appear.
    assert!(!root.join("etc/xen").exists());
    assert!(!root.join("etc/hvnet/qemu-ifup").exists());
}
