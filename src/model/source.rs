//! Sources and reasons: which list a rule came from, and why it lists a handset.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use crate::model::field::{FieldError, Reason};

/// The name of the list a rule came from: `local` by default, or a register's list such as
/// `dirbs/blacklist`.
///
/// A name is 1 to 64 bytes of `a-z`, `0-9`, `_`, `.`, `/` and `-`. Sources order by name:
/// between rules of equal status and date for one target, the rule of the source that sorts
/// first decides (docs/semantics.md, rule 4). Cloning is cheap.
///
/// # Example
///
/// ```
/// use imei_index::Source;
///
/// let s: Source = "dirbs/blacklist".parse()?;
/// assert_eq!(s.as_str(), "dirbs/blacklist");
/// assert!(s < Source::local());
/// assert!("Local".parse::<Source>().is_err());
/// # Ok::<(), imei_index::FieldError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Source(Arc<str>);

/// The longest source name, in bytes.
pub(crate) const MAX_SOURCE_NAME: usize = 64;

static LOCAL: LazyLock<Source> = LazyLock::new(|| Source(Arc::from("local")));

impl Source {
    /// The default source, `local`: an operator's own list.
    pub fn local() -> Source {
        LOCAL.clone()
    }

    /// The same source in an allocation of its own, whose reference count no other copy
    /// shares: for rules made on one thread and dropped on another, so that the two do not
    /// contend for one counter.
    pub(crate) fn unshared(&self) -> Source {
        Source(Arc::from(&*self.0))
    }

    /// A source of this name.
    ///
    /// # Errors
    ///
    /// [`FieldError::Source`] when the name is empty, longer than 64 bytes, or holds a byte
    /// other than `a-z`, `0-9`, `_`, `.`, `/` and `-`.
    pub fn new(name: &str) -> Result<Source, FieldError> {
        let ok = !name.is_empty()
            && name.len() <= MAX_SOURCE_NAME
            && name.bytes().all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || matches!(b, b'_' | b'.' | b'/' | b'-')
            });
        if !ok {
            return Err(FieldError::Source(name.to_string()));
        }
        if name == "local" {
            return Ok(Source::local());
        }
        Ok(Source(Arc::from(name)))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when both are the same shared name (a cheap test before comparing names).
    pub(crate) fn ptr_eq(&self, other: &Source) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// True for the default source, `local`.
    pub fn is_local(&self) -> bool {
        &*self.0 == "local"
    }
}

impl Default for Source {
    fn default() -> Source {
        Source::local()
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl FromStr for Source {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Source, FieldError> {
        Source::new(s)
    }
}

/// The longest reason text, in bytes.
pub(crate) const MAX_REASON: usize = 255;

/// A set of reason texts, shared.
struct Set {
    /// A hash of the texts, so that hashing a set costs nothing per text.
    hash: u64,
    texts: Box<[Box<str>]>,
}

/// Why a rule lists a handset: any number of reason texts, sorted (by bytes) and without
/// duplicates; often none, or one of the six known [`Reason`]s.
///
/// A text is 1 to 255 bytes of UTF-8 without `|` (which joins several reasons in lists and
/// output) or control characters. A text that is a known reason's name in any case is that
/// reason's name (`Stolen` is `stolen`). Cloning is cheap: the texts are shared.
///
/// # Example
///
/// ```
/// use imei_index::{Reason, Reasons};
///
/// let r = Reasons::new(["Duplicate IMEI detected", "STOLEN", "stolen"])?;
/// assert_eq!(r.to_string(), "Duplicate IMEI detected|stolen");
/// assert_eq!(r.known(), None);
/// assert_eq!(Reasons::from(Reason::Lost).known(), Some(Reason::Lost));
/// assert_eq!(Reasons::parse_joined("lost|")?, Reasons::from(Reason::Lost));
/// assert!(Reasons::new(["a|b"]).is_err());
/// # Ok::<(), imei_index::FieldError>(())
/// ```
#[derive(Clone, Default)]
pub struct Reasons(Option<Arc<Set>>);

static KNOWN: LazyLock<[Reasons; 6]> =
    LazyLock::new(|| Reason::ALL.map(|r| Reasons::from_sorted(vec![Box::from(r.as_str())])));

impl Reasons {
    /// No reasons.
    pub const fn none() -> Reasons {
        Reasons(None)
    }

    /// The set of these texts.
    ///
    /// # Errors
    ///
    /// [`FieldError::ReasonText`] for a text that is empty, longer than 255 bytes, or holds
    /// `|` or a control character.
    pub fn new<S: AsRef<str>>(texts: impl IntoIterator<Item = S>) -> Result<Reasons, FieldError> {
        let mut v: Vec<Box<str>> = Vec::new();
        for t in texts {
            v.push(Box::from(canonical(t.as_ref())?));
        }
        v.sort_unstable();
        v.dedup();
        if let [one] = &v[..]
            && let Some(r) = Reason::ALL.iter().find(|r| r.as_str() == &**one)
        {
            return Ok(Reasons::from(*r));
        }
        Ok(Reasons::from_sorted(v))
    }

    /// The set of the texts joined with `|` in `joined`, blanks around each trimmed and
    /// empty ones skipped, as list files and output write them.
    ///
    /// # Errors
    ///
    /// As [`Reasons::new`].
    pub fn parse_joined(joined: &str) -> Result<Reasons, FieldError> {
        Reasons::new(joined.split('|').map(str::trim).filter(|t| !t.is_empty()))
    }

    /// A set from texts already canonical, sorted and deduplicated.
    pub(crate) fn from_sorted(v: Vec<Box<str>>) -> Reasons {
        if v.is_empty() {
            return Reasons(None);
        }
        let mut h = Fnv::default();
        for t in &v {
            h.write(t.as_bytes());
            h.write(&[0xff]);
        }
        Reasons(Some(Arc::new(Set {
            hash: h.finish(),
            texts: v.into_boxed_slice(),
        })))
    }

    /// The texts, sorted.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.texts().iter().map(|t| &**t)
    }

    fn texts(&self) -> &[Box<str>] {
        self.0.as_ref().map_or(&[], |s| &s.texts)
    }

    /// The 64-bit FNV-1a digest of the texts, each followed by a 0xff byte (0 for none):
    /// what an index's content hashes fold in.
    pub(crate) fn digest(&self) -> u64 {
        self.0.as_ref().map_or(0, |s| s.hash)
    }

    /// How many texts.
    pub fn len(&self) -> usize {
        self.texts().len()
    }

    /// True when there is no reason.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The known reason, when the set is exactly one of the six.
    pub fn known(&self) -> Option<Reason> {
        match self.texts() {
            [one] => Reason::ALL.into_iter().find(|r| r.as_str() == &**one),
            _ => None,
        }
    }

    /// The C API's and format 1's reason code: `None` without reasons, the known reason
    /// alone, else [`Reason::Other`].
    pub fn code(&self) -> Option<Reason> {
        if self.is_empty() {
            None
        } else {
            Some(self.known().unwrap_or(Reason::Other))
        }
    }

    /// The union of two sets.
    pub fn union(&self, other: &Reasons) -> Reasons {
        if other.is_empty() || self == other {
            return self.clone();
        }
        if self.is_empty() {
            return other.clone();
        }
        let mut v: Vec<Box<str>> = self.texts().iter().chain(other.texts()).cloned().collect();
        v.sort_unstable();
        v.dedup();
        if let [one] = &v[..]
            && let Some(r) = Reason::ALL.iter().find(|r| r.as_str() == &**one)
        {
            return Reasons::from(*r);
        }
        Reasons::from_sorted(v)
    }
}

/// A reason text as stored: a known reason's name in lower case, any other text as it is.
fn canonical(t: &str) -> Result<&str, FieldError> {
    let bad = t.is_empty() || t.len() > MAX_REASON || t.chars().any(|c| c == '|' || c.is_control());
    if bad {
        return Err(FieldError::ReasonText(t.to_string()));
    }
    Ok(Reason::ALL
        .iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(t))
        .map_or(t, |r| r.as_str()))
}

impl From<Reason> for Reasons {
    fn from(r: Reason) -> Reasons {
        KNOWN[usize::from(r.code() - 1)].clone()
    }
}

impl PartialEq for Reasons {
    fn eq(&self, other: &Reasons) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || (a.hash == b.hash && a.texts == b.texts),
            _ => false,
        }
    }
}

impl Eq for Reasons {}

impl Hash for Reasons {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.as_ref().map_or(0, |s| s.hash));
    }
}

/// Sets order as sorted lists of texts (the empty set first).
impl Ord for Reasons {
    fn cmp(&self, other: &Reasons) -> Ordering {
        if self == other {
            return Ordering::Equal;
        }
        self.texts().cmp(other.texts())
    }
}

impl PartialOrd for Reasons {
    fn partial_cmp(&self, other: &Reasons) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The texts joined with `|`; nothing for no reasons.
impl fmt::Display for Reasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("|")?;
            }
            f.write_str(t)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// 64-bit FNV-1a: the documented hash of the format's content hashes, and the reasons' own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fnv(pub(crate) u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_validated() {
        assert!(Source::new("dirbs/notifications/op_1").is_ok());
        for bad in ["", "A", "a b", "é", &"x".repeat(65)] {
            assert!(Source::new(bad).is_err(), "{bad:?}");
        }
        assert!(Source::new(&"x".repeat(64)).is_ok());
        assert!(Source::local().is_local());
    }

    #[test]
    fn reasons_are_sets() {
        let a = Reasons::new(["b", "a", "b"]).unwrap();
        assert_eq!(a.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(a, Reasons::new(["a", "b"]).unwrap());
        assert_eq!(Reasons::new(Vec::<&str>::new()).unwrap(), Reasons::none());
        assert_eq!(Reasons::new(["LOST"]).unwrap().known(), Some(Reason::Lost));
        assert_eq!(a.code(), Some(Reason::Other));
        assert_eq!(Reasons::none().code(), None);
        assert!(Reasons::new([""]).is_err());
        assert!(Reasons::new(["a\nb"]).is_err());
        assert!(Reasons::new(["x".repeat(256)]).is_err());
        assert!(Reasons::none() < a);
        let u = Reasons::from(Reason::Lost).union(&a);
        assert_eq!(u.to_string(), "a|b|lost");
    }
}
