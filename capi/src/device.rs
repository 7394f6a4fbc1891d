//! GSMA's TAC database in C: the model behind a TAC, and the TAC policy chosen at open
//! (docs/semantics.md, "GSMA's TAC database"). Added in ABI 1 beside the first functions:
//! a verdict of the policy is an ordinary verdict (`IMEI_INDEX_RULE_TAC`, reason
//! `IMEI_INDEX_REASON_COUNTERFEIT` for a TAC not in the database, `_OTHER` for one allocated
//! after the policy's date); `imei_index_check_at` gives its text (`TAC not in the TAC
//! database`) and an empty source.

use std::ffi::c_char;

use super::handle::{borrow, imei_index, open_into, options};
use super::input;
use super::live::imei_index_live;
use super::result::{Failure, guard, imei_index_result};
use super::text::copy_cut;
use super::verdict::{IMEI_INDEX_STATUS_BLOCKED, IMEI_INDEX_STATUS_TRACKED};
use ::imei_index::{Date, Device, Index, LiveIndex, Status, Tac, TacPolicy};

/// The TAC policy to open an index with: `status` is `IMEI_INDEX_STATUS_TRACKED` or
/// `IMEI_INDEX_STATUS_BLOCKED`, answered for an IMEI that no rule decides and whose TAC
/// the index's TAC database does not list; with `allocated_after_set` 1, also for a TAC
/// allocated after `allocated_after` (days since 1970-01-01).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct imei_index_tac_policy {
    /// `IMEI_INDEX_STATUS_TRACKED` or `IMEI_INDEX_STATUS_BLOCKED`.
    pub status: u8,
    /// 1 when `allocated_after` is given, 0 when not.
    pub allocated_after_set: u8,
    /// Days since 1970-01-01: TACs allocated after this day are caught too.
    pub allocated_after: u32,
}

/// The bytes each text of `imei_index_device` holds, its NUL included.
pub const IMEI_INDEX_DEVICE_TEXT_BYTES: usize = 128;

/// What the TAC database says about a TAC. The texts are NUL-terminated UTF-8 held in the
/// struct, cut at a character boundary when longer than it holds.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct imei_index_device {
    /// 1 when the database lists the TAC; 0 when not (or the index holds no database), and
    /// every other field is then zero.
    pub found: u8,
    /// The TAC.
    pub tac: u32,
    /// The allocation date, as days since 1970-01-01 + 1; 0 when the database gives none.
    pub allocated: u32,
    /// The manufacturer.
    pub manufacturer: [c_char; IMEI_INDEX_DEVICE_TEXT_BYTES],
    /// The brand (empty in exports without one).
    pub brand: [c_char; IMEI_INDEX_DEVICE_TEXT_BYTES],
    /// The model: the marketing name, else the model name.
    pub model: [c_char; IMEI_INDEX_DEVICE_TEXT_BYTES],
    /// The device type (`Smartphone`, `Modem` …).
    pub device_type: [c_char; IMEI_INDEX_DEVICE_TEXT_BYTES],
}

impl imei_index_device {
    const NONE: imei_index_device = imei_index_device {
        found: 0,
        tac: 0,
        allocated: 0,
        manufacturer: [0; IMEI_INDEX_DEVICE_TEXT_BYTES],
        brand: [0; IMEI_INDEX_DEVICE_TEXT_BYTES],
        model: [0; IMEI_INDEX_DEVICE_TEXT_BYTES],
        device_type: [0; IMEI_INDEX_DEVICE_TEXT_BYTES],
    };

    fn new(d: &Device<'_>) -> imei_index_device {
        let mut out = imei_index_device {
            found: 1,
            tac: d.tac.as_u32(),
            allocated: d.allocated.map_or(0, |a| a.days_since_epoch() + 1),
            ..imei_index_device::NONE
        };
        copy_cut(d.manufacturer, &mut out.manufacturer);
        copy_cut(d.brand, &mut out.brand);
        copy_cut(d.model, &mut out.model);
        copy_cut(d.device_type, &mut out.device_type);
        out
    }
}

/// The library's policy of a C one (NULL: none).
///
/// # Safety
///
/// `policy` must be NULL or readable.
unsafe fn policy_of(policy: *const imei_index_tac_policy) -> Result<Option<TacPolicy>, Failure> {
    if policy.is_null() {
        return Ok(None);
    }
    let p = input::non_null(policy.cast_mut(), "policy")?;
    // SAFETY: not NULL and aligned (checked above); the caller guarantees it is readable.
    let p = unsafe { p.read() };
    let status = match p.status {
        IMEI_INDEX_STATUS_TRACKED => Status::Tracked,
        IMEI_INDEX_STATUS_BLOCKED => Status::Blocked,
        s => {
            return Err(Failure::invalid_argument(format!(
                "the TAC policy's status is {s}: pass IMEI_INDEX_STATUS_TRACKED (2) or \
                 IMEI_INDEX_STATUS_BLOCKED (1)"
            )));
        }
    };
    let mut policy = TacPolicy::new(status);
    match p.allocated_after_set {
        0 => {}
        1 => {
            let day = Date::from_days_since_epoch(p.allocated_after).ok_or_else(|| {
                Failure::invalid_argument(format!(
                    "the TAC policy's allocated_after ({}) is past 9999-12-31: pass days since \
                     1970-01-01",
                    p.allocated_after
                ))
            })?;
            policy = policy.allocated_after(day);
        }
        s => {
            return Err(Failure::invalid_argument(format!(
                "the TAC policy's allocated_after_set is {s}: pass 1 with a date, 0 without"
            )));
        }
    }
    Ok(Some(policy))
}

/// As `imei_index_open_with`, with the TAC policy `policy` (NULL: none, as
/// `imei_index_open_with`).
///
/// Returns `IMEI_INDEX_RESULT_INVALID_ARGUMENT` for a policy whose fields are not one, and
/// for an index that holds no TAC database (build it with `imei-index build --tac-db`):
/// a policy is never applied as if no TAC were allocated. Otherwise as `imei_index_open`.
///
/// Thread safety: safe to call from any thread.
///
/// # Safety
///
/// As `imei_index_open`, with `policy` NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_open_with_tac_policy(
    path: *const c_char,
    flags: u32,
    policy: *const imei_index_tac_policy,
    out: *mut *mut imei_index,
) -> imei_index_result {
    let open = || {
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { input::path(path) }?;
        // SAFETY: the caller guarantees `policy` is NULL or readable.
        let policy = unsafe { policy_of(policy) }?;
        Ok(imei_index {
            index: options(flags)?.tac_policy(policy).open(path)?,
        })
    };
    // SAFETY: the caller guarantees `out` is NULL or writable.
    unsafe { open_into(out, open) }
}

/// As `imei_index_live_open_with`, with the TAC policy `policy` (NULL: none), which every
/// reload keeps: a newly published file without a TAC database is refused and the old
/// index goes on serving.
///
/// Returns as `imei_index_open_with_tac_policy`.
///
/// Thread safety: safe to call from any thread.
///
/// # Safety
///
/// As `imei_index_live_open`, with `policy` NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_open_with_tac_policy(
    path: *const c_char,
    flags: u32,
    policy: *const imei_index_tac_policy,
    out: *mut *mut imei_index_live,
) -> imei_index_result {
    let open = || {
        // SAFETY: the caller guarantees `path` is NULL or NUL-terminated.
        let path = unsafe { input::path(path) }?;
        // SAFETY: the caller guarantees `policy` is NULL or readable.
        let policy = unsafe { policy_of(policy) }?;
        let mut o = options(flags)?;
        o.tac_policy(policy);
        Ok(imei_index_live {
            live: LiveIndex::open_with(path, o)?,
        })
    };
    // SAFETY: the caller guarantees `out` is NULL or writable.
    unsafe { open_into(out, open) }
}

/// Writes what the index's TAC database says about `tac` (its 8 digits as a number) to
/// `*out`: `found` 0 when it does not list the TAC or the index holds no database.
///
/// Returns `IMEI_INDEX_RESULT_INVALID_ARGUMENT` when `tac` has more than 8 digits,
/// `IMEI_INDEX_RESULT_NULL_POINTER` when `index` or `out` is NULL; `*out` then says
/// `found` 0.
///
/// Thread safety: safe to call from any number of threads at once with one handle.
///
/// # Safety
///
/// `index` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_device_get(
    index: *const imei_index,
    tac: u32,
    out: *mut imei_index_device,
) -> imei_index_result {
    // SAFETY: the caller's guarantees are those `device_with` needs.
    unsafe {
        device_with(tac, out, || {
            // SAFETY: the caller guarantees a live handle or NULL.
            let index: &Index = borrow(index)?;
            Ok(move |t| index.device(t).map(|d| imei_index_device::new(&d)))
        })
    }
}

/// As `imei_index_device_get`, from the index a live handle serves now.
///
/// Thread safety: as `imei_index_live_check`.
///
/// # Safety
///
/// As `imei_index_device_get`, with `live` NULL or an open live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_live_device_get(
    live: *const imei_index_live,
    tac: u32,
    out: *mut imei_index_device,
) -> imei_index_result {
    // SAFETY: the caller's guarantees are those `device_with` needs.
    unsafe {
        device_with(tac, out, || {
            // SAFETY: the caller guarantees an open live handle or NULL.
            let live: &LiveIndex = super::live::borrow(live)?;
            Ok(move |t| {
                let index = live.current();
                index.device(t).map(|d| imei_index_device::new(&d))
            })
        })
    }
}

/// Reads the TAC, looks it up with `handle`'s function, and writes `*out` (on failure too).
///
/// # Safety
///
/// `out` must be NULL or writable.
unsafe fn device_with<L>(
    tac: u32,
    out: *mut imei_index_device,
    handle: impl FnOnce() -> Result<L, Failure>,
) -> imei_index_result
where
    L: FnOnce(Tac) -> Option<imei_index_device>,
{
    guard(|| {
        let out = input::non_null(out, "out")?;
        // SAFETY: `out` is not NULL and aligned (checked above); every caller of the C API
        // guarantees that it is writable.
        unsafe { out.write(imei_index_device::NONE) };
        let lookup = handle()?;
        let tac = Tac::from_u32(tac)
            .map_err(|e| Failure::invalid_argument(format!("tac {tac} is not a TAC: {e}")))?;
        if let Some(d) = lookup(tac) {
            // SAFETY: as above.
            unsafe { out.write(d) };
        }
        Ok(())
    })
}
