//! [`IfName`]: a validated Linux network interface name.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use super::error::{shown, IfNameReason, TypeError};

/// A Linux network interface name, such as `virbr0` or `vnet3`.
///
/// Valid names are what the kernel's `dev_valid_name()` accepts, minus a few
/// footguns:
///
/// * 1 to 15 bytes (`IFNAMSIZ - 1`), counted in UTF-8;
/// * not `.` or `..`;
/// * not `all` or `default`: the kernel refuses them (`EINVAL`), since they are the
///   directories of the all-interfaces and default settings under `/proc/sys/net/*/conf/`;
/// * no `/`, `:` or whitespace (refused by the kernel);
/// * no control characters (accepted by the kernel but unprintable);
/// * no `%`: the kernel treats a name containing `%` as a template
///   (`tap%d` becomes `tap0`), so the device created would not have the name
///   asked for.
///
/// Ordering and hashing are those of the underlying string, and
/// `IfName: Borrow<str>`, so a `HashMap<IfName, _>` can be queried with a `&str`.
///
/// # Examples
///
/// ```
/// use hvnet_core::types::IfName;
///
/// # fn main() -> Result<(), hvnet_core::types::TypeError> {
/// let name = IfName::new("virbr0")?;
/// assert_eq!(name.as_str(), "virbr0");
/// assert_eq!(name.len(), 6); // through Deref<Target = str>
///
/// let err = IfName::new("br/0").unwrap_err();
/// assert!(err.to_string().contains("contains '/'"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfName(String);

impl IfName {
    /// The longest valid name, in bytes (`IFNAMSIZ - 1`).
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::IfName;
    ///
    /// assert!(IfName::new(&"x".repeat(IfName::MAX_LEN)).is_ok());
    /// assert!(IfName::new(&"x".repeat(IfName::MAX_LEN + 1)).is_err());
    /// ```
    pub const MAX_LEN: usize = 15;

    /// Validates `name` and wraps a copy of it.
    ///
    /// # Errors
    ///
    /// [`TypeError::IfName`] if `name` breaks any of the rules listed on
    /// [`IfName`]; the message says which.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::IfName;
    ///
    /// assert!(IfName::new("vnet0").is_ok());
    /// assert_eq!(
    ///     IfName::new("virbr-very-long-name").unwrap_err().to_string(),
    ///     "interface name \"virbr-very-long-name\" is 20 bytes; Linux allows at most 15"
    /// );
    /// ```
    pub fn new(name: &str) -> Result<Self, TypeError> {
        validate(name)?;
        Ok(Self(name.to_owned()))
    }

    /// The name as a string slice.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::IfName;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// assert_eq!(IfName::new("eth0")?.as_str(), "eth0");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the name into its `String`.
    ///
    /// # Examples
    ///
    /// ```
    /// use hvnet_core::types::IfName;
    ///
    /// # fn main() -> Result<(), hvnet_core::types::TypeError> {
    /// let s: String = IfName::new("eth0")?.into_string();
    /// assert_eq!(s, "eth0");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Checks `name` against the rules documented on [`IfName`].
fn validate(name: &str) -> Result<(), TypeError> {
    let fail = |reason| {
        Err(TypeError::IfName {
            input: shown(name),
            reason,
        })
    };
    if name.is_empty() {
        return fail(IfNameReason::Empty);
    }
    if name.len() > IfName::MAX_LEN {
        return fail(IfNameReason::TooLong { len: name.len() });
    }
    if name == "." || name == ".." {
        return fail(IfNameReason::Reserved);
    }
    if name == "all" || name == "default" {
        return fail(IfNameReason::KernelReserved);
    }
    if let Some(ch) = name.chars().find(|&c| is_forbidden(c)) {
        return fail(IfNameReason::ForbiddenChar { ch });
    }
    Ok(())
}

/// Whether `c` may not appear anywhere in an interface name.
fn is_forbidden(c: char) -> bool {
    matches!(c, '/' | ':' | '%') || c.is_whitespace() || c.is_control()
}

impl FromStr for IfName {
    type Err = TypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for IfName {
    type Error = TypeError;

    /// Validates `name`, reusing its allocation.
    fn try_from(name: String) -> Result<Self, Self::Error> {
        validate(&name)?;
        Ok(Self(name))
    }
}

impl TryFrom<&str> for IfName {
    type Error = TypeError;

    fn try_from(name: &str) -> Result<Self, Self::Error> {
        Self::new(name)
    }
}

impl From<IfName> for String {
    fn from(name: IfName) -> Self {
        name.0
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IfName({:?})", self.0)
    }
}

impl Deref for IfName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for IfName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for IfName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for IfName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for IfName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

serde_via_str!(
    IfName,
    "an interface name such as \"virbr0\" (1 to 15 bytes)"
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn accepts_valid_names() {
        for name in [
            "a",
            "eth0",
            "virbr0",
            "vnet12",
            "br-lan",
            "br_lan",
            "tap.100",
            "wlp2s0",
            "...",
            ".a",
            "enp0s31f6",
            "vlan4094",
            "abcdefghijklmno", // exactly 15 bytes
            "brü",             // UTF-8 is allowed by the kernel
            "x@y+z",
        ] {
            let parsed = IfName::new(name).unwrap_or_else(|e| panic!("{name:?}: {e}"));
            assert_eq!(parsed.as_str(), name);
            assert_eq!(parsed.to_string(), name);
            assert_eq!(parsed.to_string().parse::<IfName>().unwrap(), parsed);
        }
    }

    #[test]
    fn rejects_invalid_names() {
        let cases = [
            ("", "interface name \"\" is empty"),
            (
                "virbr-very-long-name",
                "interface name \"virbr-very-long-name\" is 20 bytes; Linux allows at most 15",
            ),
            ("abcdefghijklmnop", "is 16 bytes"),
            ("ééééééééé", "is 18 bytes"), // 9 chars but 18 bytes
            (".", "is reserved"),
            ("..", "is reserved"),
            ("all", "is reserved by the kernel"),
            ("default", "is reserved by the kernel"),
            ("br/0", "contains '/'"),
            ("eth0:1", "contains ':'"),
            ("tap%d", "contains '%'"),
            ("br 0", "contains ' '"),
            ("br\t0", "contains '\\t'"),
            ("br0\n", "contains '\\n'"),
            ("br\u{0}0", "contains '\\0'"),
            ("br\u{7f}", "contains '\\u{7f}'"),
            ("br\u{a0}x", "contains '\\u{a0}'"), // non-breaking space
        ];
        for (input, fragment) in cases {
            let err = IfName::new(input).expect_err(input);
            assert!(matches!(err, TypeError::IfName { .. }));
            let msg = err.to_string();
            assert!(msg.contains(fragment), "{input:?}: {msg}");
            assert_eq!(input.parse::<IfName>().unwrap_err(), err);
            assert_eq!(IfName::try_from(input.to_owned()).unwrap_err(), err);
        }
    }

    #[test]
    fn reasons_are_structured() {
        assert_eq!(
            IfName::new("a:b").unwrap_err(),
            TypeError::IfName {
                input: "a:b".into(),
                reason: IfNameReason::ForbiddenChar { ch: ':' },
            }
        );
    }

    #[test]
    fn very_long_input_is_cut_in_message() {
        let long = "x".repeat(10_000);
        let msg = IfName::new(&long).unwrap_err().to_string();
        assert!(msg.contains("is 10000 bytes"), "{msg}");
        assert!(msg.len() < 200, "{msg}");
    }

    #[test]
    fn conversions_and_comparisons() {
        let name = IfName::try_from("vnet0").unwrap();
        assert_eq!(name, "vnet0");
        assert_eq!(name, *"vnet0");
        assert!(name.starts_with("vnet"));
        assert_eq!(AsRef::<str>::as_ref(&name), "vnet0");
        assert_eq!(format!("{name:?}"), "IfName(\"vnet0\")");
        let s: String = name.clone().into();
        assert_eq!(s, "vnet0");

        let mut map = HashMap::new();
        map.insert(name, 1);
        assert_eq!(map.get("vnet0"), Some(&1));

        let mut names: Vec<IfName> = ["vnet1", "br0", "vnet0"]
            .iter()
            .map(|n| IfName::new(n).unwrap())
            .collect();
        names.sort();
        let sorted: Vec<&str> = names.iter().map(IfName::as_str).collect();
        assert_eq!(sorted, ["br0", "vnet0", "vnet1"]);
    }
}
