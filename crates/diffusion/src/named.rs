//! The closed sets of named values (`ScheduleKind`, `TrajectoryKind`, `LawName`,
//! `ContinuousSampler`, `AnySampler`): one list `ALL` and one `name()` per type give
//! `FromStr` (with an error listing the names) and, for most, `Display`.

use crate::{Error, Result};

/// The value of `all` whose `name` is `s`.
///
/// # Errors
/// [`Error::Invalid`] naming `what` and listing every name.
pub(crate) fn parse<T: Copy>(
    all: &[T],
    name: impl Fn(T) -> &'static str,
    what: &'static str,
    s: &str,
) -> Result<T> {
    all.iter()
        .copied()
        .find(|&v| name(v) == s)
        .ok_or_else(|| Error::Invalid {
            what,
            msg: format!(
                "unknown {what} `{s}` (expected {})",
                all.iter().map(|&v| name(v)).collect::<Vec<_>>().join(", ")
            ),
        })
}

/// `Display` (the name) and `FromStr` (through [`parse`]) for a type with `ALL` and
/// `name(self) -> &'static str`.
macro_rules! named {
    ($ty:ty, $what:literal) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = crate::Error;

            fn from_str(s: &str) -> crate::Result<Self> {
                crate::named::parse(&Self::ALL, Self::name, $what, s)
            }
        }
    };
}

pub(crate) use named;
