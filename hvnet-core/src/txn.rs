//! Transactional apply: run a plan; if op k fails, undo every op that took effect, newest
//! first, and report op k.

use std::fmt;

use crate::backend::Execute;
use crate::op::Op;
use crate::plan::Plan;

/// Why an apply failed. The kernel was rolled back before this is returned.
#[derive(Debug)]
pub struct TxnError {
    /// 1-based number of the failing op in the plan.
    pub step: usize,
    /// The failing op.
    pub op: Box<Op>,
    /// What went wrong.
    pub error: String,
    /// How many inverse ops ran.
    pub undone: usize,
    /// Inverse ops that failed (the rollback is then incomplete) or could not be formed.
    pub rollback_errors: Vec<String>,
}

impl fmt::Display for TxnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {} ({}) failed: {}", self.step, self.op, self.error)?;
        if self.rollback_errors.is_empty() {
            write!(f, "; rolled back ({} op(s) undone)", self.undone)
        } else {
            write!(
                f,
                "; rollback incomplete: {}",
                self.rollback_errors.join("; ")
            )
        }
    }
}

impl std::error::Error for TxnError {}

/// Runs `plan` through `exec`. `fault_at = Some(k)` (1-based; tests only) makes op k fail
/// without executing it, so a test can prove the rollback of ops 1..k-1.
///
/// Returns the number of ops applied.
///
/// ```
/// use hvnet_core::{backend::{Execute, ExecFailure}, op::Op, plan::Plan, txn::run};
/// use hvnet_core::types::IfName;
/// #[derive(Default)]
/// struct Log(Vec<String>);
/// impl Execute for Log {
///     type Error = std::io::Error;
///     fn execute(&mut self, ops: &[Op]) -> Result<(), ExecFailure<Self::Error>> {
///         self.0.extend(ops.iter().map(|o| o.to_string()));
///         Ok(())
///     }
/// }
/// let link = IfName::new("vnet0").unwrap();
/// let plan = Plan { ops: vec![
///     Op::SetMtu { link: link.clone(), mtu: 9000, old: 1500 },
///     Op::SetUp { link: link.clone(), up: true },
/// ] };
/// let mut log = Log::default();
/// let err = run(&mut log, &plan, Some(2)).unwrap_err();
/// assert_eq!(err.step, 2);
/// assert_eq!(log.0, ["set mtu of vnet0 to 9000 (was 1500)", "set mtu of vnet0 to 1500 (was 9000)"]);
/// ```
pub fn run<X: Execute>(
    exec: &mut X,
    plan: &Plan,
    fault_at: Option<usize>,
) -> Result<usize, TxnError> {
    let ops = &plan.ops;
    let (limit, injected) = match fault_at {
        Some(k) if k >= 1 && k <= ops.len() => (k - 1, true),
        _ => (ops.len(), false),
    };
    let (failed, error, mut applied) = match exec.execute(&ops[..limit]) {
        Ok(()) if !injected => return Ok(ops.len()),
        Ok(()) => (
            limit,
            format!("injected fault (HVNET_FAULT_AT={})", limit + 1),
            (0..limit).collect(),
        ),
        Err(f) => (f.index, f.error.to_string(), f.applied),
    };
    applied.sort_unstable();
    applied.dedup();
    let mut undone = 0;
    let mut rollback_errors = Vec::new();
    for &i in applied.iter().rev() {
        let inverse = ops[i].inverse();
        if inverse.is_empty() {
            rollback_errors.push(format!("op {} ({}) cannot be undone", i + 1, ops[i]));
            continue;
        }
        for inv in inverse {
            match exec.execute(std::slice::from_ref(&inv)) {
                Ok(()) => undone += 1,
                Err(e) => {
                    rollback_errors.push(format!("undo of op {} ({inv}): {}", i + 1, e.error))
                }
            }
        }
    }
    Err(TxnError {
        step: failed + 1,
        op: Box::new(ops[failed].clone()),
        error,
        undone,
        rollback_errors,
    })
}
