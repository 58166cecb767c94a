//! Parsing the command line, fast for the verbs that run once per guest.
//!
//! `Cli::command()` builds every subcommand, each with a copy of the nine global options:
//! about 1,600 allocations and a third of a `guest up`'s user-space instructions, for a
//! process that then creates two taps. The verbs that run once per guest or tap (`guest …`,
//! and `kvm ifup|ifdown`, which QEMU starts for every tap) are parsed first against a tree
//! that holds only their own subcommand, built from the same derived definitions. That
//! parse is used only when it succeeds; anything else (an error, `--help`, `--version`,
//! another verb) is parsed again against the whole tree, so every message, suggestion and
//! help text is the whole tree's.

use std::ffi::OsString;

use clap::{Args, CommandFactory, FromArgMatches, Subcommand};

use crate::cli::{Cli, Global};
use crate::commands::{guest::GuestCmd, kvm::KvmCmd};

/// The root command with only the subcommand `name`, if `name` is one of the verbs parsed
/// this way. The subcommand carries the settings the derive gives a variant holding a
/// required `#[command(subcommand)]` field.
fn pruned(name: &str) -> Option<clap::Command> {
    let (name, augment): (&'static str, fn(clap::Command) -> clap::Command) = match name {
        "guest" => ("guest", GuestCmd::augment_subcommands),
        "kvm" => ("kvm", KvmCmd::augment_subcommands),
        _ => return None,
    };
    let sub = clap::Command::new(name)
        .subcommand_required(true)
        .arg_required_else_help(true);
    Some(root().subcommand(augment(sub)).subcommand_required(true))
}

/// `hvnet` with the global options and no subcommand (as `Cli`'s derive makes it:
/// `--version` on every subcommand too).
fn root() -> clap::Command {
    Global::augment_args(clap::Command::new("hvnet"))
        .version(env!("CARGO_PKG_VERSION"))
        .propagate_version(true)
}

/// The subcommand `args` names: the first word that is neither a global option nor its
/// value.
fn verb(args: &[OsString]) -> Option<String> {
    let m = root()
        .allow_external_subcommands(true)
        .try_get_matches_from(args)
        .ok()?;
    m.subcommand_name().map(str::to_owned)
}

/// `args` parsed against the pruned tree of its verb, or `None` when that verb is not
/// parsed this way or the parse fails.
fn parse_pruned(args: &[OsString]) -> Option<Cli> {
    let cmd = pruned(&verb(args)?)?;
    // Not dropped: the process ends after one command (see `parse`).
    let mut cmd = std::mem::ManuallyDrop::new(cmd);
    let mut m = cmd.try_get_matches_from_mut(args).ok()?;
    Cli::from_arg_matches_mut(&mut m).ok()
}

/// The command line as clap parses it against the whole tree, with the per-guest verbs
/// parsed against their own subcommand alone when that succeeds (see the module docs).
///
/// Neither tree is dropped: freeing the whole one cost as much as parsing the command line,
/// and the process ends after one command.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, clap::Error> {
    let args: Vec<OsString> = args.into_iter().collect();
    if let Some(cli) = parse_pruned(&args) {
        return Ok(cli);
    }
    let mut cmd = std::mem::ManuallyDrop::new(Cli::command());
    let mut matches = cmd.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut cmd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<OsString> {
        std::iter::once("hvnet")
            .chain(s.split_whitespace())
            .map(OsString::from)
            .collect()
    }

    fn full(args: &[OsString]) -> Result<Cli, clap::Error> {
        let mut cmd = Cli::command();
        let mut m = cmd.try_get_matches_from_mut(args)?;
        Cli::from_arg_matches_mut(&mut m)
    }

    #[test]
    fn pruned_parse_equals_the_whole_trees() {
        for line in [
            "guest up g1",
            "guest up g1 --dry-run",
            "guest down g1 --netns ns1 -c /x.toml",
            "--netns ns1 -c /x.toml --state-dir /s guest up g1",
            "-vv --config=/x.toml guest up --dry-run g1",
            "-c/x.toml guest args g1 --offline",
            "guest up g1 --lock-timeout 2s --iptables legacy --firewall nftables",
            "--host-name h1 guest xml g1 --offline",
            "kvm ifup vnet3",
            "--netns n kvm ifdown vnet3 -v",
        ] {
            let args = argv(line);
            let want = full(&args).unwrap_or_else(|e| panic!("{line}: {e}"));
            let got = parse_pruned(&args).unwrap_or_else(|| panic!("{line}: not parsed pruned"));
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{line}");
        }
    }

    #[test]
    fn everything_else_is_left_to_the_whole_tree() {
        for line in [
            "guest",
            "guest up",
            "guest up g1 --bogus",
            "guest nosuch g1",
            "guest up --help",
            "guest --help",
            "guest up g1 --version",
            "gues up g1",
            "--help",
            "--version",
            "apply",
            "rate g1 0 100mbit",
            "kvm",
            "--netns",
            "",
        ] {
            let args = argv(line);
            assert!(parse_pruned(&args).is_none(), "{line:?} was parsed pruned");
        }
        // What the whole tree says stays what the user sees.
        let e = parse(argv("guest up g1 --bogus")).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
        let e = parse(argv("gues up g1")).unwrap_err();
        assert!(e.to_string().contains("guest"), "{e}");
    }

    /// Each pruned subcommand has the whole tree's arguments, settings and help, down to
    /// every leaf.
    #[test]
    fn pruned_subcommands_match_the_whole_tree() {
        fn leaves(c: &clap::Command, path: String, out: &mut Vec<(String, String)>) {
            let mut c = c.clone();
            out.push((path.clone(), c.render_long_help().to_string()));
            for s in c.get_subcommands() {
                leaves(s, format!("{path} {}", s.get_name()), out);
            }
        }
        let mut whole = Cli::command();
        whole.build();
        for name in ["guest", "kvm"] {
            let mut p = pruned(name).expect(name);
            p.build();
            let (mut got, mut want) = (Vec::new(), Vec::new());
            for s in p.find_subcommand(name).expect(name).get_subcommands() {
                leaves(s, s.get_name().to_owned(), &mut got);
            }
            let w = whole.find_subcommand(name).expect(name);
            for s in w.get_subcommands() {
                leaves(s, s.get_name().to_owned(), &mut want);
            }
            let paths = |v: &[(String, String)]| v.iter().map(|l| l.0.clone()).collect::<Vec<_>>();
            assert_eq!(paths(&got), paths(&want), "{name}");
            assert!(want.len() > 2, "{name}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.1, w.1, "{name} {}", w.0);
            }
        }
    }
}
