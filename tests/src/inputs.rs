//! One input fed to one of hvnet's parsers, in-process, with the checks every input must
//! pass whatever it holds: no panic (the caller catches and reports it), and every rejection
//! explained with its position — `FILE:LINE:COL` for a config, the line and column of the
//! element for libvirt XML, the line for usr_guest_config.sh. Used by the deterministic
//! mutation run (`tests/tests/mutation.rs`) and by the cargo-fuzz targets (`fuzz/`).
//!
//! Each entry point panics (with the reason) when an invariant is broken, so a fuzzer sees a
//! crash and the mutation run a failure.

use std::str::FromStr;

use hvnet_core::config::Config;
use hvnet_core::import::ImportFailure;
use hvnet_core::types::{RateSpec, XlRate};
use hvnet_kvm::import::{libvirt_network, usr_guest_config};
use hvnet_xen::hotplug::store::{BackendKeys, MemStore};
use hvnet_xen::import::xl_vif;

/// What a parser made of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Taken.
    Accepted,
    /// Refused, with a well-placed reason.
    Rejected,
}

/// The file name the inputs are parsed under.
pub const FILE: &str = "mutant.toml";

/// A config (bytes read as the CLI reads a file, lossily here): accepted, or rejected with
/// every diagnostic naming `FILE:LINE:COL`.
pub fn config(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    match Config::parse(&text, FILE) {
        Ok(_) => Outcome::Accepted,
        Err(e) => {
            assert!(
                !e.diagnostics.is_empty(),
                "a rejection without a diagnostic"
            );
            for d in &e.diagnostics {
                let shown = d.to_string();
                let prefix = format!("{FILE}:{}:{}:", d.line, d.column);
                assert!(
                    d.file == FILE && d.line >= 1 && d.column >= 1 && shown.starts_with(&prefix),
                    "a diagnostic without FILE:LINE:COL: {shown:?}"
                );
            }
            Outcome::Rejected
        }
    }
}

/// The outcome of an importer: an accepted import's TOML must validate, and every error
/// must pass `placed` (it names where the problem is).
fn imported<E: std::fmt::Debug>(
    result: Result<String, ImportFailure<E>>,
    placed: impl Fn(&E) -> bool,
) -> Outcome {
    match result {
        Ok(toml) => {
            if let Err(e) = Config::parse(&toml, "imported.toml") {
                panic!("the import's TOML does not validate: {e}\n{toml}");
            }
            Outcome::Accepted
        }
        Err(f) => {
            assert!(!f.errors.is_empty(), "a failure without an error");
            for e in &f.errors {
                assert!(placed(e), "an error without its position: {e:?}");
            }
            Outcome::Rejected
        }
    }
}

/// A libvirt `<network>` XML (not UTF-8: refused before parsing, as the CLI does). Errors
/// and warnings carry a line and column; an accepted import's TOML validates.
pub fn libvirt(data: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(data) else {
        return Outcome::Rejected;
    };
    let result = libvirt_network::import(text, "m.xml").map(|out| {
        for w in &out.warnings {
            assert!(
                w.line >= 1 && w.col >= 1,
                "a warning without position: {w:?}"
            );
        }
        out.toml
    });
    imported(result, |e| e.line >= 1 && e.col >= 1)
}

/// A usr_guest_config.sh: errors carry a line (0 only for an output the validator
/// refused, which names it); an accepted import's TOML validates.
pub fn usr_guest(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    let result = usr_guest_config::import(&text, "m.sh").map(|out| out.toml);
    imported(result, |e| e.line >= 1 || e.variable == "output")
}

/// An xl vif spec or `vif = [ … ]` line, imported for guest `g`.
pub fn xl_vif(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    match xl_vif::import(&text, "g") {
        Ok(out) => {
            assert_eq!(out.vifs.len(), out.generated_macs.len());
            Outcome::Accepted
        }
        Err(f) => {
            assert!(
                f.errors.iter().all(|e| !e.message.is_empty()),
                "an error without a reason: {:?}",
                f.errors
            );
            Outcome::Rejected
        }
    }
}

/// An xl rate (`RATE[@INTERVAL]` or the xenstore form) and a config rate: whatever parses
/// prints back to the same value.
pub fn rates(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    let mut outcome = Outcome::Rejected;
    if let Ok(r) = XlRate::from_str(&text) {
        assert_eq!(r.to_string().parse::<XlRate>().ok(), Some(r), "{text:?}");
        assert_eq!(XlRate::parse_xenstore(&r.xenstore_value()).ok(), Some(r));
        let spec = RateSpec::from_xl(r);
        assert_eq!(
            spec.to_string().parse::<RateSpec>().ok(),
            Some(spec),
            "{text:?}"
        );
        outcome = Outcome::Accepted;
    }
    if let Ok(s) = RateSpec::from_str(&text) {
        assert_eq!(s.to_string().parse::<RateSpec>().ok(), Some(s), "{text:?}");
        outcome = Outcome::Accepted;
    }
    outcome
}

/// Xenstore values of a vif backend, one `KEY=VALUE` a line, read as the hotplug script
/// reads them (keys, then the `rate` key netback would police).
pub fn xenstore(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    let be = "backend/vif/1/0";
    let pairs: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (format!("{be}/{}", k.trim()), v.to_owned()))
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let store = MemStore::with(&refs);
    let Ok(keys) = BackendKeys::read(&store, be) else {
        return Outcome::Rejected;
    };
    let path = format!("{be}/rate");
    match hvnet_xen::hotplug::rate::parse_key(keys.rate.as_deref(), &path) {
        Ok(Some(r)) => {
            let _ = hvnet_xen::hotplug::rate::tbf(&r);
            Outcome::Accepted
        }
        Ok(None) => Outcome::Accepted,
        Err(e) => {
            assert!(e.to_string().contains(&path), "{e}");
            Outcome::Rejected
        }
    }
}
