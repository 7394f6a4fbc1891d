//! Checking equipment through a handle.
//!
//! The helpers here take the lookup as a closure, so that every kind of handle (the
//! immutable `imei_index` here, a reloading one later) shares one implementation of input
//! checking, verdict writing and error reporting.

use std::ffi::c_char;

use super::handle::{borrow, imei_index};
use super::input;
use super::result::{Failure, guard, imei_index_result};
use super::verdict::imei_index_verdict;
use ::imei_index::Verdict;
use ::imei_index::{Imei, Imsi};

/// Runs a check that answers one verdict: writes it to `*out`, or, when the check fails
/// (or panics), `IMEI_INDEX_STATUS_INVALID`, so that a caller who ignores the result code
/// never reads a stale verdict.
pub(crate) fn answer(
    out: *mut imei_index_verdict,
    check: impl FnOnce() -> Result<imei_index_verdict, Failure>,
) -> imei_index_result {
    guard(|| {
        let out = input::non_null(out, "out")?;
        // SAFETY: `out` is not NULL and aligned (checked above); every caller of the C API
        // guarantees that it is writable.
        unsafe { out.write(imei_index_verdict::INVALID) };
        let verdict = check()?;
        // SAFETY: as above.
        unsafe { out.write(verdict) };
        Ok(())
    })
}

/// The verdict for an IMEI given as text.
///
/// # Safety
///
/// `imei` must be NULL or point to `len` readable bytes.
pub(crate) unsafe fn check_text(
    imei: *const c_char,
    len: usize,
    lenient: bool,
    lookup: impl FnOnce(Imei) -> Result<Verdict, Failure>,
) -> Result<imei_index_verdict, Failure> {
    // SAFETY: passed on from the caller.
    let text = unsafe { text_arg(imei, len, "imei") }?;
    let (imei, check_digit_ok) = input::imei(text, lenient)?;
    Ok(imei_index_verdict::new(lookup(imei)?, check_digit_ok))
}

/// The verdict for an IMEI with an IMSI, both given as text.
///
/// # Safety
///
/// `imei` and `imsi` must each be NULL or point to their length of readable bytes.
pub(crate) unsafe fn check_text_with_imsi(
    imei: *const c_char,
    imei_len: usize,
    imsi: *const c_char,
    imsi_len: usize,
    lenient: bool,
    lookup: impl FnOnce(Imei, &Imsi) -> Result<Verdict, Failure>,
) -> Result<imei_index_verdict, Failure> {
    // SAFETY: passed on from the caller.
    let imei_text = unsafe { text_arg(imei, imei_len, "imei") }?;
    // SAFETY: passed on from the caller.
    let imsi_text = unsafe { text_arg(imsi, imsi_len, "imsi") }?;
    let (imei, check_digit_ok) = input::imei(imei_text, lenient)?;
    let imsi = input::imsi(imsi_text)?;
    Ok(imei_index_verdict::new(
        lookup(imei, &imsi)?,
        check_digit_ok,
    ))
}

/// A text argument: never NULL, even when empty (an empty IMEI is then reported as such).
///
/// # Safety
///
/// `p` must be NULL or point to `len` readable bytes.
unsafe fn text_arg<'a>(p: *const c_char, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: passed on from the caller.
    unsafe { input::bytes(p, len, what) }
}

/// Checks `n` IMEIs given as 14-digit numbers, writing `n` verdicts. `checker` gives the
/// lookup (or fails, for a bad handle), and is called once the arrays are known good.
///
/// # Safety
///
/// `imei14` must be NULL or point to `n` readable `u64`s, `out` NULL or to `n` writable
/// verdicts that do not overlap them; `n_invalid` NULL or writable.
pub(crate) unsafe fn check_array<C: Fn(Imei) -> Verdict>(
    imei14: *const u64,
    n: usize,
    out: *mut imei_index_verdict,
    n_invalid: *mut usize,
    checker: impl FnOnce() -> Result<C, Failure>,
) -> imei_index_result {
    guard(|| {
        let imei14 = input::array(imei14, n, "imei14")?.as_ptr();
        let out = input::array(out.cast_const(), n, "out")?.as_ptr();
        let n_invalid = (!n_invalid.is_null())
            .then(|| input::non_null(n_invalid, "n_invalid"))
            .transpose()?;
        // Never leave stale verdicts behind, as for single checks, whatever fails (or
        // panics) below.
        for i in 0..n {
            // SAFETY: i < n, and the caller guarantees n writable verdicts at `out`.
            unsafe { out.add(i).write(imei_index_verdict::INVALID) };
        }
        let check = checker()?;
        let mut invalid = 0usize;
        let mut first_invalid = None;
        for i in 0..n {
            // SAFETY: i < n, and the caller guarantees n readable values at `imei14`.
            let value = unsafe { imei14.add(i).read() };
            let verdict = match Imei::from_u64(value) {
                Ok(imei) => imei_index_verdict::new(check(imei), true),
                Err(_) => {
                    invalid += 1;
                    first_invalid.get_or_insert((i, value));
                    imei_index_verdict::INVALID
                }
            };
            // SAFETY: i < n, and the caller guarantees n writable verdicts at `out`.
            unsafe { out.add(i).write(verdict) };
        }
        if let Some(p) = n_invalid {
            // SAFETY: not NULL, aligned; the caller guarantees it is writable.
            unsafe { p.as_ptr().write(invalid) };
        }
        match first_invalid {
            None => Ok(()),
            Some((i, value)) => Err(Failure::new(
                imei_index_result::InvalidImei,
                format!(
                    "{invalid} of {n} IMEIs are invalid, the first at index {i}: {value} has \
                     more than 14 digits (pass the 14 digits of TAC and serial number, without \
                     the check digit); their verdicts say IMEI_INDEX_STATUS_INVALID, the \
                     others were checked"
                ),
            )),
        }
    })
}

/// Checks an IMEI: what the index says about the handset (pair rules aside, which need the
/// IMSI).
///
/// `imei` is `len` bytes, not NUL-terminated (a NUL among them is an invalid character), in
/// any form the Rust `Imei::parse` accepts: 14 digits; 15 whose last is the Luhn check
/// digit; a 16-digit IMEISV; `imei-<15 digits>` or `imeisv-<16 digits>` (5G PEIs); spaces
/// or hyphens between digits; whitespace around.
///
/// Writes the verdict to `*out`. Returns `IMEI_INDEX_RESULT_INVALID_IMEI` when the input is
/// not an IMEI (also for a wrong check digit: see `imei_index_check_lenient`), and `*out`
/// then says `IMEI_INDEX_STATUS_INVALID`.
///
/// Thread safety: safe to call from any number of threads at once with one handle.
///
/// # Safety
///
/// `index` must be NULL or a live handle; `imei` NULL or `len` readable bytes; `out` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_check(
    index: *const imei_index,
    imei: *const c_char,
    len: usize,
    out: *mut imei_index_verdict,
) -> imei_index_result {
    answer(out, || {
        // SAFETY: the caller guarantees a live handle or NULL.
        let index = unsafe { borrow(index) }?;
        // SAFETY: the caller guarantees `len` readable bytes at `imei`, or NULL.
        unsafe { check_text(imei, len, false, |i| Ok(index.check(i))) }
    })
}

/// As `imei_index_check`, but a 15th digit that is not the check digit is accepted, and
/// `out->check_digit_ok` is 0 then. Counterfeit handsets often carry wrong check digits;
/// an EIR must still classify them.
///
/// Thread safety: safe to call from any number of threads at once with one handle.
///
/// # Safety
///
/// As `imei_index_check`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_check_lenient(
    index: *const imei_index,
    imei: *const c_char,
    len: usize,
    out: *mut imei_index_verdict,
) -> imei_index_result {
    answer(out, || {
        // SAFETY: the caller guarantees a live handle or NULL.
        let index = unsafe { borrow(index) }?;
        // SAFETY: the caller guarantees `len` readable bytes at `imei`, or NULL.
        unsafe { check_text(imei, len, true, |i| Ok(index.check(i))) }
    })
}

/// Checks an IMEI given as its 14 digits of TAC and serial number, as one number (the check
/// digit excluded): the fastest check, with no parsing.
///
/// Returns `IMEI_INDEX_RESULT_INVALID_IMEI` when `imei14` has more than 14 digits.
///
/// Thread safety: safe to call from any number of threads at once with one handle.
///
/// # Safety
///
/// `index` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_check_u64(
    index: *const imei_index,
    imei14: u64,
    out: *mut imei_index_verdict,
) -> imei_index_result {
    answer(out, || {
        // SAFETY: the caller guarantees a live handle or NULL.
        let index = unsafe { borrow(index) }?;
        let imei = input::imei_u64(imei14)?;
        Ok(imei_index_verdict::new(index.check(imei), true))
    })
}

/// Checks a handset used with a SIM: a rule pairing this IMEI with this IMSI first, then as
/// `imei_index_check`.
///
/// `imsi` is `imsi_len` bytes of 5 to 15 digits (not NUL-terminated). Returns
/// `IMEI_INDEX_RESULT_INVALID_IMEI` or `IMEI_INDEX_RESULT_INVALID_IMSI` for input that is
/// not one.
///
/// Thread safety: safe to call from any number of threads at once with one handle.
///
/// # Safety
///
/// `index` must be NULL or a live handle; `imei` and `imsi` NULL or their length of
/// readable bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_check_with_imsi(
    index: *const imei_index,
    imei: *const c_char,
    imei_len: usize,
    imsi: *const c_char,
    imsi_len: usize,
    out: *mut imei_index_verdict,
) -> imei_index_result {
    answer(out, || {
        // SAFETY: the caller guarantees a live handle or NULL.
        let index = unsafe { borrow(index) }?;
        // SAFETY: the caller guarantees the lengths of readable bytes, or NULL.
        unsafe {
            check_text_with_imsi(imei, imei_len, imsi, imsi_len, false, |i, s| {
                Ok(index.check_with_imsi(i, s))
            })
        }
    })
}

/// As `imei_index_check_with_imsi`, accepting a wrong check digit as
/// `imei_index_check_lenient` does.
///
/// Thread safety: safe to call from any number of threads at once with one handle.
///
/// # Safety
///
/// As `imei_index_check_with_imsi`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_check_with_imsi_lenient(
    index: *const imei_index,
    imei: *const c_char,
    imei_len: usize,
    imsi: *const c_char,
    imsi_len: usize,
    out: *mut imei_index_verdict,
) -> imei_index_result {
    answer(out, || {
        // SAFETY: the caller guarantees a live handle or NULL.
        let index = unsafe { borrow(index) }?;
        // SAFETY: the caller guarantees the lengths of readable bytes, or NULL.
        unsafe {
            check_text_with_imsi(imei, imei_len, imsi, imsi_len, true, |i, s| {
                Ok(index.check_with_imsi(i, s))
            })
        }
    })
}

/// Checks `n` IMEIs given as 14-digit numbers (as `imei_index_check_u64`), writing verdict
/// `i` of `imei14[i]` to `out[i]`.
///
/// Every valid element is checked even when others are invalid. An element with more than
/// 14 digits gets `IMEI_INDEX_STATUS_INVALID`, and the function then returns
/// `IMEI_INDEX_RESULT_INVALID_IMEI`, with a message naming the first. `*n_invalid` (when
/// `n_invalid` is not NULL) receives the number of invalid elements. With `n` 0 the arrays
/// may be NULL.
///
/// Thread safety: safe to call from any number of threads at once with one handle.
///
/// # Safety
///
/// `index` must be NULL or a live handle; `imei14` NULL or `n` readable values; `out` NULL
/// or `n` writable verdicts, not overlapping `imei14`; `n_invalid` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_check_many(
    index: *const imei_index,
    imei14: *const u64,
    n: usize,
    out: *mut imei_index_verdict,
    n_invalid: *mut usize,
) -> imei_index_result {
    let checker = || {
        // SAFETY: the caller guarantees a live handle or NULL.
        let index = unsafe { borrow(index) }?;
        Ok(|i| index.check(i))
    };
    // SAFETY: the caller guarantees the arrays' lengths of memory, or NULL.
    unsafe { check_array(imei14, n, out, n_invalid, checker) }
}
