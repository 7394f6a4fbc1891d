//! Turning a C caller's pointers into Rust values, refusing what cannot be valid.
//!
//! A C caller's bytes are untrusted: every pointer is checked for NULL and alignment, every
//! length for what memory can hold, and text is parsed from exactly `len` bytes (never
//! read up to a NUL), so a buffer that is not NUL-terminated is fine.

use std::ffi::{CStr, c_char};
use std::path::PathBuf;
use std::ptr::NonNull;

use super::result::{Failure, imei_index_result};
use ::imei_index::{Imei, Imsi};

/// Echoed inputs are cut to this many bytes in error messages.
const ECHO_MAX: usize = 48;

/// Checks a pointer the caller passes for one `T`: not NULL, aligned for `T`.
pub(crate) fn non_null<T>(p: *const T, what: &str) -> Result<NonNull<T>, Failure> {
    let p = NonNull::new(p.cast_mut()).ok_or_else(|| Failure::null(what))?;
    if !p.is_aligned() {
        return Err(Failure::invalid_argument(format!(
            "{what} ({p:p}) is not aligned to {} bytes, as its type needs",
            align_of::<T>()
        )));
    }
    Ok(p)
}

/// Checks a pointer to an array of `n` `T`s: as [`non_null`], and its size fits memory.
///
/// An empty array may be NULL (C callers often pass NULL for empty arrays); it is then a
/// dangling, aligned pointer that must not be read.
pub(crate) fn array<T>(p: *const T, n: usize, what: &str) -> Result<NonNull<T>, Failure> {
    if n == 0 && p.is_null() {
        return Ok(NonNull::dangling());
    }
    if n.checked_mul(size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Failure::invalid_argument(format!(
            "the length {n} of {what} is larger than any array in memory"
        )));
    }
    non_null(p, what)
}

/// The `len` bytes at `p`.
///
/// # Safety
///
/// If `p` is not NULL, it must point to `len` readable bytes that stay unchanged for `'a`.
pub(crate) unsafe fn bytes<'a>(
    p: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Failure> {
    let p = array(p.cast::<u8>(), len, what)?;
    // SAFETY: `array` checked that `p` is not NULL (or `len` is 0 and `p` dangling but
    // aligned, which a slice of 0 bytes allows) and that `len` bytes fit in memory; the
    // caller guarantees they are readable and unchanged while borrowed.
    Ok(unsafe { std::slice::from_raw_parts(p.as_ptr(), len) })
}

/// A path given as a NUL-terminated C string.
///
/// # Safety
///
/// If `p` is not NULL, it must point to a NUL-terminated string.
pub(crate) unsafe fn path(p: *const c_char) -> Result<PathBuf, Failure> {
    let p = non_null(p, "path")?;
    // SAFETY: the caller guarantees a NUL-terminated string at `p`, which is not NULL.
    let c = unsafe { CStr::from_ptr(p.as_ptr()) };
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(c.to_bytes())))
    }
    #[cfg(not(unix))]
    {
        c.to_str().map(PathBuf::from).map_err(|_| {
            Failure::invalid_argument(format!(
                "the path {:?} is not UTF-8: pass UTF-8 paths on this platform",
                c.to_string_lossy()
            ))
        })
    }
}

/// The caller's input as text, or an error naming the first byte that cannot be.
///
/// IMEIs and IMSIs are ASCII, so bytes that are not UTF-8 are never valid; the error says
/// which byte, in the same words as the parsers' own non-digit errors.
fn text<'a>(input: &'a [u8], what: &str, code: imei_index_result) -> Result<&'a str, Failure> {
    std::str::from_utf8(input).map_err(|e| {
        let at = e.valid_up_to();
        Failure::new(
            code,
            format!(
                "invalid {what} \"{}\": byte {:#04x} at position {} is not a digit: \
                 the {what} must hold only digits",
                echo(input),
                input[at],
                at + 1
            ),
        )
    })
}

/// The caller's input for an error message: escaped, and cut when long.
fn echo(input: &[u8]) -> String {
    let shown = &input[..input.len().min(ECHO_MAX)];
    let mut s = shown.escape_ascii().to_string();
    if input.len() > ECHO_MAX {
        s.push_str(&format!("... ({} bytes)", input.len()));
    }
    s
}

/// An IMEI in any form [`Imei::parse`] accepts, and whether its check digit was right or
/// absent. `lenient` accepts a wrong check digit (reporting it) as [`Imei::parse_lenient`].
pub(crate) fn imei(input: &[u8], lenient: bool) -> Result<(Imei, bool), Failure> {
    let fail = |e: &dyn std::fmt::Display| {
        Failure::new(
            imei_index_result::InvalidImei,
            format!("invalid IMEI \"{}\": {e}", echo(input)),
        )
    };
    let s = text(input, "IMEI", imei_index_result::InvalidImei)?;
    if lenient {
        let parsed = Imei::parse_lenient(s).map_err(|e| fail(&e))?;
        Ok((parsed.imei, parsed.check_digit.is_ok()))
    } else {
        Imei::parse(s).map(|i| (i, true)).map_err(|e| fail(&e))
    }
}

/// The IMEI whose 14 digits are `n`.
pub(crate) fn imei_u64(n: u64) -> Result<Imei, Failure> {
    Imei::from_u64(n)
        .map_err(|e| Failure::new(imei_index_result::InvalidImei, format!("invalid IMEI: {e}")))
}

/// An IMSI of 5 to 15 digits.
pub(crate) fn imsi(input: &[u8]) -> Result<Imsi, Failure> {
    let s = text(input, "IMSI", imei_index_result::InvalidImsi)?;
    Imsi::parse(s).map_err(|e| {
        Failure::new(
            imei_index_result::InvalidImsi,
            format!("invalid IMSI \"{}\": {e}", echo(input)),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_names_the_byte() {
        let e = imei(b"35\xff2099", false).unwrap_err();
        assert_eq!(e.code, imei_index_result::InvalidImei);
        assert!(
            e.message.contains("byte 0xff at position 3"),
            "{}",
            e.message
        );
        assert!(e.message.contains("\"35\\xff2099\""), "{}", e.message);
        let e = imsi(b"\xc3(").unwrap_err();
        assert_eq!(e.code, imei_index_result::InvalidImsi);
        assert!(
            e.message.contains("byte 0xc3 at position 1"),
            "{}",
            e.message
        );
    }

    #[test]
    fn long_inputs_are_cut_in_messages() {
        let long = vec![b'7'; 10_000];
        let e = imei(&long, false).unwrap_err();
        assert!(e.message.len() < 400, "{}", e.message);
        assert!(e.message.contains("(10000 bytes)"));
    }

    #[test]
    fn lenient_reports_a_wrong_check_digit() {
        assert!(imei(b"354178036859781", false).is_err());
        let (i, ok) = imei(b"354178036859781", true).unwrap();
        assert_eq!((i, ok), (Imei::parse("354178036859789").unwrap(), false));
        assert!(imei(b"35417803685978", false).unwrap().1);
    }

    #[test]
    fn arrays_refuse_impossible_lengths() {
        let x = 0u64;
        assert!(array(&x, usize::MAX / 4, "imei14").is_err());
        assert!(array(std::ptr::null::<u64>(), 0, "imei14").is_ok());
        assert_eq!(
            array(std::ptr::null::<u64>(), 1, "imei14")
                .unwrap_err()
                .code,
            imei_index_result::NullPointer
        );
        let misaligned = (&x as *const u64)
            .cast::<u8>()
            .wrapping_add(1)
            .cast::<u64>();
        assert_eq!(
            non_null(misaligned, "imei14").unwrap_err().code,
            imei_index_result::InvalidArgument
        );
    }
}
