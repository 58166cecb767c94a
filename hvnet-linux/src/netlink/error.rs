//! [`NlError`]: a failed rtnetlink request or socket operation.

use std::fmt;
use std::io;

/// A failed rtnetlink request (or socket operation): the errno, the kernel's
/// extended ACK message if it sent one, and what was being done.
///
/// `Display` renders `"<context>: <strerror(errno)> (os error N) (<ext ack>)"`:
///
/// ```
/// use hvnet_linux::netlink::NlError;
///
/// let err = NlError::new(libc::EEXIST, "create bridge virbr2");
/// assert_eq!(err.to_string(), "create bridge virbr2: File exists (os error 17)");
/// let err = NlError::new(libc::EINVAL, "create veth a-very-long-name-0")
///     .with_ext_ack("Attribute failed policy validation");
/// assert_eq!(
///     err.to_string(),
///     "create veth a-very-long-name-0: Invalid argument (os error 22) \
///      (Attribute failed policy validation)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlError {
    /// The (positive) errno, e.g. `libc::EEXIST`.
    pub errno: i32,
    /// The kernel's extended ACK message (`NLMSGERR_ATTR_MSG`), if any; for
    /// a request refused before sending (see [`Rtnl::execute`](super::Rtnl::execute)),
    /// why it was refused.
    pub ext_ack: Option<String>,
    /// What was being done, naming the object, e.g. `"create bridge virbr2"`.
    pub context: String,
}

impl NlError {
    /// An error with the given errno and context, without extended ACK.
    pub fn new(errno: i32, context: impl Into<String>) -> NlError {
        NlError {
            errno,
            ext_ack: None,
            context: context.into(),
        }
    }

    /// Attaches an extended ACK message.
    #[must_use]
    pub fn with_ext_ack(mut self, message: impl Into<String>) -> NlError {
        self.ext_ack = Some(message.into());
        self
    }

    /// Converts an I/O error from a socket call (`EIO` if it has no errno).
    pub(crate) fn from_io(err: &io::Error, context: impl Into<String>) -> NlError {
        NlError::new(err.raw_os_error().unwrap_or(libc::EIO), context)
    }

    /// The errno as an [`io::Error`] (without context).
    pub fn os_error(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno)
    }

    /// `true` for `EEXIST`: the object being created exists already.
    pub fn is_exists(&self) -> bool {
        self.errno == libc::EEXIST
    }

    /// `true` for the errnos the kernel uses for a missing object: `ENODEV`
    /// (link), `EADDRNOTAVAIL` (address), `ESRCH` and `ENOENT` (route).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self.errno,
            libc::ENODEV | libc::EADDRNOTAVAIL | libc::ESRCH | libc::ENOENT
        )
    }
}

impl fmt::Display for NlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.os_error())?;
        if let Some(msg) = &self.ext_ack {
            write!(f, " ({msg})")?;
        }
        Ok(())
    }
}

impl std::error::Error for NlError {}

impl From<NlError> for io::Error {
    /// Keeps the errno's [`io::ErrorKind`]; the message carries the context.
    fn from(err: NlError) -> io::Error {
        io::Error::new(err.os_error().kind(), err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_object_and_ext_ack() {
        let e = NlError::new(libc::EEXIST, "create bridge virbr2");
        assert_eq!(
            e.to_string(),
            "create bridge virbr2: File exists (os error 17)"
        );
        assert!(e.is_exists());
        let e = NlError::new(libc::ENETUNREACH, "add route 10.9.0.0/24")
            .with_ext_ack("Nexthop has invalid gateway");
        assert_eq!(
            e.to_string(),
            "add route 10.9.0.0/24: Network is unreachable (os error 101) \
             (Nexthop has invalid gateway)"
        );
        assert!(!e.is_not_found());
        let io: io::Error = NlError::new(libc::EEXIST, "set link 3").into();
        assert_eq!(io.kind(), io::ErrorKind::AlreadyExists);
        let io: io::Error = NlError::new(libc::ENODEV, "set link 3").into();
        assert!(io.to_string().starts_with("set link 3: No such device"));
    }

    #[test]
    fn from_io_keeps_errno() {
        let e = NlError::from_io(&io::Error::from_raw_os_error(libc::ENOBUFS), "send");
        assert_eq!(e.errno, libc::ENOBUFS);
        let e = NlError::from_io(&io::Error::other("no errno"), "send");
        assert_eq!(e.errno, libc::EIO);
    }
}
