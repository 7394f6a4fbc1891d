//! Checks on a day, answering the deciding rule's reasons and source as text: the verdict of
//! lists with sources, open reasons and dated rules (docs/semantics.md). Added beside the
//! first checks, which keep their ABI: `imei_index_verdict.reason` stays the known reason's
//! code, or `IMEI_INDEX_REASON_OTHER` for any other reasons.

use std::ffi::c_char;

use super::handle::{borrow, imei_index};
use super::input;
use super::live::imei_index_live;
use super::result::{Failure, guard, imei_index_result};
use super::verdict::imei_index_verdict;
use ::imei_index::{Date, Described, Imei, Imsi, Index, LiveIndex};

/// The bytes `imei_index_verdict_text.source` holds: a source name (at most 64 bytes) and
/// its NUL.
pub const IMEI_INDEX_SOURCE_BYTES: usize = 65;
/// The bytes `imei_index_verdict_text.reasons` holds, its NUL included.
pub const IMEI_INDEX_REASONS_BYTES: usize = 1024;

/// What the index says about one handset on a day, with the deciding rule's texts.
///
/// `source` and `reasons` are NUL-terminated UTF-8 held in the struct: nothing to free, and
/// nothing that a reload of a live index could change under the caller.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct imei_index_verdict_text {
    /// The verdict, as the first checks write it (`reason` the known reason's code, or
    /// `IMEI_INDEX_REASON_OTHER` for reasons that are not one known reason alone).
    pub verdict: imei_index_verdict,
    /// The deciding rule's start, as days since 1970-01-01 (0 when it has none): with
    /// `earlier`, the day its status changes.
    pub start: u32,
    /// 1 when `verdict.status` is the rule's status before its start (a notified handset,
    /// tracked until its block date); 0 otherwise.
    pub earlier: u8,
    /// The deciding rule's source (`local`, `dirbs/blacklist` …); empty for unknown
    /// equipment.
    pub source: [c_char; IMEI_INDEX_SOURCE_BYTES],
    /// The deciding rule's reasons, several joined with `|`; empty for none. Cut at a
    /// character boundary when longer than the field holds: `reasons_len` says.
    pub reasons: [c_char; IMEI_INDEX_REASONS_BYTES],
    /// The length in bytes of the whole joined reasons (more than
    /// `IMEI_INDEX_REASONS_BYTES - 1` when `reasons` was cut).
    pub reasons_len: usize,
}

impl imei_index_verdict_text {
    /// Written for input that is not an IMEI, and before any check.
    const INVALID: imei_index_verdict_text = imei_index_verdict_text {
        verdict: imei_index_verdict::INVALID,
        start: 0,
        earlier: 0,
        source: [0; IMEI_INDEX_SOURCE_BYTES],
        reasons: [0; IMEI_INDEX_REASONS_BYTES],
        reasons_len: 0,
    };

    fn new(d: &Described, check_digit_ok: bool) -> imei_index_verdict_text {
        let mut out = imei_index_verdict_text {
            verdict: imei_index_verdict::new(d.verdict, check_digit_ok),
            start: d.verdict.start().map_or(0, Date::days_since_epoch),
            earlier: u8::from(d.verdict.is_earlier()),
            ..imei_index_verdict_text::INVALID
        };
        if let Some(s) = &d.source {
            copy_cut(s.as_str(), &mut out.source);
        }
        let joined = d.reasons.to_string();
        out.reasons_len = joined.len();
        copy_cut(&joined, &mut out.reasons);
        out
    }
}

/// Copies `text` into `buf` with a NUL, cut at a character boundary to fit.
pub(crate) fn copy_cut(text: &str, buf: &mut [c_char]) {
    let mut end = text.len().min(buf.len() - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    for (d, s) in buf.iter_mut().zip(&text.as_bytes()[..end]) {
        *d = *s as c_char;
    }
    buf[end] = 0;
}

/// The day of a check: `year`, `month`, `day`, or all three 0 for today.
fn day_of(year: u32, month: u32, day: u32) -> Result<Option<Date>, Failure> {
    if (year, month, day) == (0, 0, 0) {
        return Ok(None);
    }
    Date::from_ymd(year, month, day).map(Some).ok_or_else(|| {
        Failure::invalid_argument(format!(
            "{year:04}-{month:02}-{day:02} is not a day: pass a year from 1970 to 9999, a month \
             from 1 to 12 and a day of that month, or 0, 0, 0 for today"
        ))
    })
}

/// A text argument that may be NULL (none).
///
/// # Safety
///
/// `p` must be NULL or point to `len` readable bytes.
unsafe fn optional_text<'a>(
    p: *const c_char,
    len: usize,
    what: &str,
) -> Result<Option<&'a [u8]>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: passed on from the caller.
    unsafe { input::bytes(p, len, what) }.map(Some)
}

/// Reads the arguments, checks with `describe`, and writes `*out` (on failure too).
///
/// # Safety
///
/// As `imei_index_check_at`.
#[allow(clippy::too_many_arguments)]
unsafe fn check_at_with<L>(
    imei: *const c_char,
    imei_len: usize,
    imsi: *const c_char,
    imsi_len: usize,
    year: u32,
    month: u32,
    day: u32,
    out: *mut imei_index_verdict_text,
    handle: impl FnOnce() -> Result<L, Failure>,
) -> imei_index_result
where
    L: FnOnce(Imei, Option<&Imsi>, Option<Date>) -> Described,
{
    guard(|| {
        let out = input::non_null(out, "out")?;
        // SAFETY: `out` is not NULL and aligned (checked above); every caller of the C API
        // guarantees that it is writable.
        unsafe { out.write(imei_index_verdict_text::INVALID) };
        // The handle first: a NULL one is the error, whatever the input.
        let describe = handle()?;
        if imei.is_null() {
            return Err(Failure::null("imei"));
        }
        // SAFETY: the caller guarantees `imei_len` readable bytes at `imei`.
        let imei_text = unsafe { input::bytes(imei, imei_len, "imei") }?;
        // SAFETY: the caller guarantees NULL or `imsi_len` readable bytes at `imsi`.
        let imsi_text = unsafe { optional_text(imsi, imsi_len, "imsi") }?;
        let (imei, check_digit_ok) = input::imei(imei_text, false)?;
        let imsi = imsi_text.map(input::imsi).transpose()?;
        let on = day_of(year, month, day)?;
        let described = describe(imei, imsi.as_ref(), on);
        // SAFETY: as above.
        unsafe { out.write(imei_index_verdict_text::new(&described, check_digit_ok)) };
        Ok(())
    })
}

/// Checks an IMEI, with the SIM's IMSI if given, on a day, and writes the verdict with the
/// deciding rule's start, source and reasons as text.
///
/// `imei` is `imei_len` bytes, in any form `imei_index_check` accepts. `imsi` is NULL (no
/// SIM: pair rules do not apply) or `imsi_len` bytes of 5 to 15 digits. The day is `year`,
/// `month` (1 to 12) and `day` (1 to 31), from 1970-01-01 to 9999-12-31; all three 0 check
/// on today (in UTC, or at the offset the index was opened with).
///
/// Returns `IMEI_INDEX_RESULT_INVALID_IMEI` or `_INVALID_IMSI` for input that is not one,
/// `IMEI_INDEX_RESULT_INVALID_ARGUMENT` for a day that is not one; `*out` then says
/// `IMEI_INDEX_STATUS_INVALID`.
///
/// Thread safety: safe to call from any number of threads at once with one handle.
///
/// # Safety
///
/// `index` must be NULL or a live handle; `imei` NULL or `imei_len` readable bytes; `imsi`
/// NULL or `imsi_len` readable bytes; `out` NULL or writable.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_check_at(
    index: *const imei_index,
    imei: *const c_char,
    imei_len: usize,
    imsi: *const c_char,
    imsi_len: usize,
    year: u32,
    month: u32,
    day: u32,
    out: *mut imei_index_verdict_text,
) -> imei_index_result {
    // SAFETY: the caller's guarantees are those `check_at_with` needs.
    unsafe {
        check_at_with(
            imei,
            imei_len,
            imsi,
            imsi_len,
            year,
            month,
            day,
            out,
            || {
                // SAFETY: the caller guarantees a live handle or NULL.
                let index: &Index = borrow(index)?;
                Ok(move |i, s: Option<&Imsi>, d| index.describe(i, s, d))
            },
        )
    }
}

/// As `imei_index_check_at`, against the index a live handle serves now; the texts are
/// those of the index that answered, whatever reload comes meanwhile.
///
/// Thread safety: as `imei_index_live_check`.
///
/// # Safety
///
/// As `imei_index_check_at`, with `live` NULL or an open live handle.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_check_at(
    live: *const imei_index_live,
    imei: *const c_char,
    imei_len: usize,
    imsi: *const c_char,
    imsi_len: usize,
    year: u32,
    month: u32,
    day: u32,
    out: *mut imei_index_verdict_text,
) -> imei_index_result {
    // SAFETY: the caller's guarantees are those `check_at_with` needs.
    unsafe {
        check_at_with(
            imei,
            imei_len,
            imsi,
            imsi_len,
            year,
            month,
            day,
            out,
            || {
                // SAFETY: the caller guarantees an open live handle or NULL.
                let live: &LiveIndex = super::live::borrow(live)?;
                Ok(move |i, s: Option<&Imsi>, d| live.describe(i, s, d))
            },
        )
    }
}
