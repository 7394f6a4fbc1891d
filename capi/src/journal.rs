//! The sightings journal: an EIR records each check it answered (the handset, the SIM and
//! number it came with, the verdict, when) without ever waiting on a disk.

use std::ffi::{CString, c_char, c_void};
use std::time::{Duration, UNIX_EPOCH};

use super::input;
use super::result::{Failure, guard, imei_index_result};
use super::verdict::{IMEI_INDEX_STATUS_UNKNOWN, imei_index_verdict};
use ::imei_index::{Date, Entry, Reason, RuleKind, Status, Verdict};
use ::imei_index_trace::{
    Alert, Journal, JournalOptions, JournalStats, Msisdn, Policy, Recorded, Sighting,
};

/// Journal policy bit: record checks whose verdict is allowed.
pub const IMEI_INDEX_JOURNAL_RECORD_ALLOWED: u32 = 1;
/// Journal policy bit: record checks whose verdict is blocked.
pub const IMEI_INDEX_JOURNAL_RECORD_BLOCKED: u32 = 1 << 1;
/// Journal policy bit: record checks whose verdict is tracked.
pub const IMEI_INDEX_JOURNAL_RECORD_TRACKED: u32 = 1 << 2;
/// Journal policy bit: record checks of unknown equipment.
pub const IMEI_INDEX_JOURNAL_RECORD_UNKNOWN: u32 = 1 << 3;
/// Journal policy: blocked and tracked handsets (the default).
pub const IMEI_INDEX_JOURNAL_RECORD_LISTED: u32 =
    IMEI_INDEX_JOURNAL_RECORD_BLOCKED | IMEI_INDEX_JOURNAL_RECORD_TRACKED;
/// Journal policy: every check.
pub const IMEI_INDEX_JOURNAL_RECORD_ALL: u32 = IMEI_INDEX_JOURNAL_RECORD_ALLOWED
    | IMEI_INDEX_JOURNAL_RECORD_LISTED
    | IMEI_INDEX_JOURNAL_RECORD_UNKNOWN;

/// What `imei_index_journal_record` did: queued for the writer.
pub const IMEI_INDEX_JOURNAL_QUEUED: u8 = 0;
/// What `imei_index_journal_record` did: not kept, by the policy.
pub const IMEI_INDEX_JOURNAL_SKIPPED: u8 = 1;
/// What `imei_index_journal_record` did: dropped, and counted, because the queue was full.
pub const IMEI_INDEX_JOURNAL_DROPPED: u8 = 2;

/// A traceability alert, as the alert callback receives it: a blocked or tracked handset
/// seen with a SIM it was not seen with that day (or, when no SIM was named, seen for the
/// first time that day). The strings are NUL-terminated and valid only during the call.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct imei_index_journal_alert {
    /// The handset's 14 digits.
    pub imei: *const c_char,
    /// The IMSI's digits, or its keyed hash (64 hex digits) when the journal has a key;
    /// NULL when the check named no SIM.
    pub imsi: *const c_char,
    /// The MSISDN's digits, or its keyed hash; NULL when the check named no number.
    pub msisdn: *const c_char,
    /// When the handset was seen, in milliseconds since 1970-01-01 UTC.
    pub unix_ms: i64,
    /// The verdict recorded (`check_digit_ok` is 1).
    pub verdict: imei_index_verdict,
    /// 1 when `imsi` and `msisdn` are keyed hashes.
    pub hashed: u8,
}

/// The alert callback: called on the journal's writer thread, with the context given to
/// `imei_index_journal_options_set_alert_callback`. It must return quickly (queue the alert
/// for a thread of its own) and must not call `imei_index_journal_close`.
#[allow(non_camel_case_types)]
pub type imei_index_journal_alert_fn =
    Option<unsafe extern "C" fn(context: *mut c_void, alert: *const imei_index_journal_alert)>;

/// A journal's counts since it opened.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct imei_index_journal_statistics {
    /// Sightings queued for the writer.
    pub queued: u64,
    /// Sightings the policy did not keep.
    pub skipped: u64,
    /// Sightings dropped because the queue was full.
    pub dropped: u64,
    /// Sightings written to a journal file.
    pub written: u64,
    /// Sightings lost because a file could not be written.
    pub lost: u64,
    /// Traceability alerts raised.
    pub alerts: u64,
}

impl imei_index_journal_statistics {
    fn of(s: &JournalStats) -> imei_index_journal_statistics {
        imei_index_journal_statistics {
            queued: s.queued,
            skipped: s.skipped,
            dropped: s.dropped,
            written: s.written,
            lost: s.lost,
            alerts: s.alerts,
        }
    }
}

/// The caller's callback and context, moved to the writer thread.
struct Callback {
    function: unsafe extern "C" fn(*mut c_void, *const imei_index_journal_alert),
    context: *mut c_void,
}

// SAFETY: the context is the caller's; `imei_index_journal_options_set_alert_callback`
// requires that it may be used from the journal's writer thread.
unsafe impl Send for Callback {}

/// Options for `imei_index_journal_open`, set one by one: new settings come as new
/// setters, so the ABI never changes. Opaque: create it with
/// `imei_index_journal_options_new`, free it with `imei_index_journal_options_free`.
#[allow(non_camel_case_types)]
pub struct imei_index_journal_options {
    policy: Policy,
    flush_interval: Duration,
    queue: usize,
    retention_days: Option<u32>,
    key: Option<Vec<u8>>,
    callback: Option<(
        unsafe extern "C" fn(*mut c_void, *const imei_index_journal_alert),
        usize,
    )>,
}

/// A sightings journal. Opaque: create it with `imei_index_journal_open`, free it with
/// `imei_index_journal_close`. `imei_index_journal_record` may be called from any number of
/// threads at once and never waits.
#[allow(non_camel_case_types)]
pub struct imei_index_journal {
    journal: Journal,
}

/// Creates journal options with the defaults: blocked and tracked checks recorded, written
/// out every 1000 ms, a queue of 65,536 sightings, files kept forever, numbers as they
/// are, no alert callback. On failure `*out` is NULL.
///
/// Thread safety: safe to call from any thread.
///
/// # Safety
///
/// `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_journal_options_new(
    out: *mut *mut imei_index_journal_options,
) -> imei_index_result {
    // SAFETY: the caller guarantees `out` is NULL or writable.
    unsafe {
        super::handle::open_into(out, || {
            Ok(imei_index_journal_options {
                policy: Policy::LISTED,
                flush_interval: Duration::from_secs(1),
                queue: 65_536,
                retention_days: None,
                key: None,
                callback: None,
            })
        })
    }
}

/// Frees journal options. NULL is fine.
///
/// # Safety
///
/// `options` must be NULL or from `imei_index_journal_options_new`, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_journal_options_free(options: *mut imei_index_journal_options) {
    if options.is_null() {
        return;
    }
    let _ = guard(|| {
        // SAFETY: the caller guarantees options from `Box::into_raw`, freed once.
        drop(unsafe { Box::from_raw(options) });
        Ok(())
    });
}

/// Runs `set` on the options behind `options`.
///
/// # Safety
///
/// `options` must be NULL or live options not used by another thread meanwhile.
unsafe fn with_options(
    options: *mut imei_index_journal_options,
    set: impl FnOnce(&mut imei_index_journal_options) -> Result<(), Failure>,
) -> imei_index_result {
    guard(|| {
        let mut p = input::non_null(options.cast_const(), "options")?;
        // SAFETY: not NULL, aligned; the caller guarantees live options used by no one else.
        set(unsafe { p.as_mut() })
    })
}

/// Chooses which checks are recorded: a combination of the `IMEI_INDEX_JOURNAL_RECORD_*`
/// bits (`_LISTED`, the default, is blocked and tracked; `_ALL` every check).
///
/// Returns `IMEI_INDEX_RESULT_INVALID_ARGUMENT` for 0 or an unknown bit.
///
/// # Safety
///
/// `options` must be NULL or live options, not used by another thread meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_journal_options_set_policy(
    options: *mut imei_index_journal_options,
    record: u32,
) -> imei_index_result {
    // SAFETY: passed on from the caller.
    unsafe {
        with_options(options, |o| {
            if record == 0 || record & !IMEI_INDEX_JOURNAL_RECORD_ALL != 0 {
                return Err(Failure::invalid_argument(format!(
                    "{record:#x} is not a journal policy: combine the IMEI_INDEX_JOURNAL_RECORD_* bits"
                )));
            }
            let mut p = Policy::none();
            for (bit, status) in [
                (IMEI_INDEX_JOURNAL_RECORD_ALLOWED, Some(Status::Allowed)),
                (IMEI_INDEX_JOURNAL_RECORD_BLOCKED, Some(Status::Blocked)),
                (IMEI_INDEX_JOURNAL_RECORD_TRACKED, Some(Status::Tracked)),
                (IMEI_INDEX_JOURNAL_RECORD_UNKNOWN, None),
            ] {
                if record & bit != 0 {
                    p = p.with(status);
                }
            }
            o.policy = p;
            Ok(())
        })
    }
}

/// How often the writer hands what it has to the operating system and syncs it, in
/// milliseconds (default 1000; 0 counts as 1). A crash loses at most the sightings of the
/// last interval, and those still queued.
///
/// # Safety
///
/// `options` must be NULL or live options, not used by another thread meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_journal_options_set_flush_interval_ms(
    options: *mut imei_index_journal_options,
    ms: u32,
) -> imei_index_result {
    // SAFETY: passed on from the caller.
    unsafe {
        with_options(options, |o| {
            o.flush_interval = Duration::from_millis(u64::from(ms.max(1)));
            Ok(())
        })
    }
}

/// How many sightings may wait for the writer (default 65,536; 0 counts as 1); when the
/// queue is full, sightings are dropped and counted, never waited for.
///
/// # Safety
///
/// `options` must be NULL or live options, not used by another thread meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_journal_options_set_queue_capacity(
    options: *mut imei_index_journal_options,
    sightings: usize,
) -> imei_index_result {
    // SAFETY: passed on from the caller.
    unsafe {
        with_options(options, |o| {
            o.queue = sightings.max(1);
            Ok(())
        })
    }
}

/// Deletes journal files (of every process in the directory) older than this many days,
/// today counting as one; 0 keeps every file (the default).
///
/// # Safety
///
/// `options` must be NULL or live options, not used by another thread meanwhile.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_journal_options_set_retention_days(
    options: *mut imei_index_journal_options,
    days: u32,
) -> imei_index_result {
    // SAFETY: passed on from the caller.
    unsafe {
        with_options(options, |o| {
            o.retention_days = (days > 0).then_some(days);
            Ok(())
        })
    }
}

/// Stores IMSIs and MSISDNs as HMAC-SHA256 of their digits under `key` (copied), in hex,
/// instead of the digits.
///
/// Returns `IMEI_INDEX_RESULT_INVALID_ARGUMENT` for an empty key.
///
/// # Safety
///
/// `options` must be NULL or live options, not used by another thread meanwhile; `key`
/// NULL or `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_journal_options_set_key(
    options: *mut imei_index_journal_options,
    key: *const u8,
    len: usize,
) -> imei_index_result {
    // SAFETY: passed on from the caller.
    unsafe {
        with_options(options, |o| {
            // SAFETY: the caller guarantees `len` readable bytes at `key`, or NULL.
            let bytes = input::bytes(key.cast(), len, "key")?;
            if bytes.is_empty() {
                return Err(Failure::invalid_argument("the journal key is empty"));
            }
            o.key = Some(bytes.to_vec());
            Ok(())
        })
    }
}

/// Calls `callback(context, alert)` with every traceability alert, on the journal's
/// writer thread (see `imei_index_journal_alert_fn`). NULL removes the callback.
///
/// # Safety
///
/// `options` must be NULL or live options, not used by another thread meanwhile;
/// `callback` must be safe to call from another thread with `context` until the journal
/// is closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_journal_options_set_alert_callback(
    options: *mut imei_index_journal_options,
    callback: imei_index_journal_alert_fn,
    context: *mut c_void,
) -> imei_index_result {
    // SAFETY: passed on from the caller.
    unsafe {
        with_options(options, |o| {
            o.callback = callback.map(|f| (f, context as usize));
            Ok(())
        })
    }
}

/// Opens a journal in the directory `dir` (created with mode 0700 if missing) and starts
/// its writer thread: files `sightings-YYYYMMDD-<start>-<pid>.csv`, one per process and UTC
/// day, created with mode 0600. `options` may be NULL for the defaults; it is not kept.
/// Open the journal in each worker process, after any fork.
///
/// On success `*out` is a new handle, to be freed with `imei_index_journal_close`; on
/// failure it is NULL, and `IMEI_INDEX_RESULT_IO` says the directory or the first file
/// could not be created.
///
/// Thread safety: safe to call from any thread.
///
/// # Safety
///
/// `dir` must be NULL or a NUL-terminated string; `options` NULL or live options; `out`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_journal_open(
    dir: *const c_char,
    options: *const imei_index_journal_options,
    out: *mut *mut imei_index_journal,
) -> imei_index_result {
    let open = || {
        // SAFETY: the caller guarantees `dir` is NULL or NUL-terminated.
        let dir = unsafe { input::path(dir) }?;
        let o = if options.is_null() {
            None
        } else {
            let p = input::non_null(options, "options")?;
            // SAFETY: not NULL, aligned; the caller guarantees live options.
            Some(unsafe { p.as_ref() })
        };
        let mut jo = JournalOptions::new();
        if let Some(o) = o {
            jo = jo
                .policy(o.policy)
                .flush_interval(o.flush_interval)
                .queue_capacity(o.queue)
                .retention_days(o.retention_days);
            if let Some(key) = &o.key {
                jo = jo.key(key.clone());
            }
            if let Some((function, context)) = o.callback {
                let cb = Callback {
                    function,
                    context: context as *mut c_void,
                };
                jo = jo.on_alert(move |a| call(&cb, a));
            }
        }
        let journal = Journal::open(&dir, jo)
            .map_err(|e| Failure::new(imei_index_result::Io, e.to_string()))?;
        Ok(imei_index_journal { journal })
    };
    // SAFETY: the caller guarantees `out` is NULL or writable.
    unsafe { super::handle::open_into(out, open) }
}

/// Hands an alert to the caller's callback.
fn call(cb: &Callback, a: &Alert) {
    let text = |s: &str| CString::new(s).unwrap_or_default();
    let imei = text(&format!("{:014}", a.imei.as_u64()));
    let imsi = a.imsi.as_deref().map(text);
    let msisdn = a.msisdn.as_deref().map(text);
    let alert = imei_index_journal_alert {
        imei: imei.as_ptr(),
        imsi: imsi.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        msisdn: msisdn.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        unix_ms: a
            .at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        verdict: imei_index_verdict::new(a.verdict, true),
        hashed: u8::from(a.hashed),
    };
    // SAFETY: the caller of `imei_index_journal_options_set_alert_callback` guarantees the
    // function may be called from this thread with its context; the alert and its strings
    // live until it returns.
    unsafe { (cb.function)(cb.context, &alert) };
}

/// Borrows the journal behind a handle.
///
/// # Safety
///
/// `journal` must be NULL or an open journal, not closed while the borrow lasts.
unsafe fn borrow<'a>(journal: *const imei_index_journal) -> Result<&'a Journal, Failure> {
    let p = input::non_null(journal, "journal")?;
    // SAFETY: not NULL, aligned; the caller guarantees an open journal.
    Ok(unsafe { &p.as_ref().journal })
}

/// The verdict a C caller passes back: the fields of a check's `imei_index_verdict`.
fn verdict_of(v: &imei_index_verdict) -> Result<Verdict, Failure> {
    if v.status == IMEI_INDEX_STATUS_UNKNOWN {
        return Ok(Verdict::unknown());
    }
    let bad = |what: &str, value: u32| {
        Failure::invalid_argument(format!(
            "the verdict's {what} {value} is not one: pass the verdict a check wrote"
        ))
    };
    let status = Status::from_s13_code(v.status).ok_or_else(|| bad("status", v.status.into()))?;
    let kind = RuleKind::ALL
        .into_iter()
        .find(|k| k.code() == v.rule)
        .ok_or_else(|| bad("rule", v.rule.into()))?;
    let mut entry = Entry::new(status);
    if v.reason != 0 {
        entry = entry.with_reason(
            Reason::from_code(v.reason).ok_or_else(|| bad("reason", v.reason.into()))?,
        );
    }
    if v.date != 0 {
        entry = entry
            .with_date(Date::from_days_since_epoch(v.date).ok_or_else(|| bad("date", v.date))?);
    }
    Ok(Verdict::listed(kind, &entry))
}

/// Records a check: the IMEI (any form `imei_index_check_lenient` accepts), the IMSI and
/// MSISDN it came with (NULL or length 0: none; an MSISDN of 5 to 15 digits, `msisdn-` or
/// `+` allowed), the verdict the check wrote, and when (`unix_ms`, milliseconds since
/// 1970-01-01 UTC; 0 for now). Returns at once: the sighting is queued for the writer, or
/// skipped by the policy, or dropped and counted when the queue is full; `*outcome` (when
/// not NULL) says which (`IMEI_INDEX_JOURNAL_QUEUED`, `_SKIPPED`, `_DROPPED`).
///
/// Returns `IMEI_INDEX_RESULT_INVALID_IMEI`, `_INVALID_IMSI`, or `_INVALID_ARGUMENT` (an
/// MSISDN that is not one, a verdict no check writes); nothing is recorded then.
///
/// Thread safety: safe to call from any number of threads at once with one journal; never
/// waits for a lock or the disk.
///
/// # Safety
///
/// `journal` must be NULL or an open journal; `imei`, `imsi` and `msisdn` NULL or their
/// length of readable bytes; `verdict` NULL or readable; `outcome` NULL or writable.
#[allow(clippy::too_many_arguments)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_journal_record(
    journal: *const imei_index_journal,
    imei: *const c_char,
    imei_len: usize,
    imsi: *const c_char,
    imsi_len: usize,
    msisdn: *const c_char,
    msisdn_len: usize,
    verdict: *const imei_index_verdict,
    unix_ms: i64,
    outcome: *mut u8,
) -> imei_index_result {
    guard(|| {
        // SAFETY: the caller guarantees a journal or NULL.
        let journal = unsafe { borrow(journal) }?;
        // SAFETY: the caller guarantees `imei_len` readable bytes at `imei`, or NULL.
        let (imei, _) = input::imei(unsafe { input::bytes(imei, imei_len, "imei") }?, true)?;
        let verdict = {
            let p = input::non_null(verdict, "verdict")?;
            // SAFETY: not NULL, aligned; the caller guarantees it is readable.
            verdict_of(unsafe { p.as_ref() })?
        };
        let mut s = Sighting::new(imei, verdict);
        if unix_ms > 0 {
            s = s.at(UNIX_EPOCH + Duration::from_millis(unix_ms.unsigned_abs()));
        }
        if !imsi.is_null() && imsi_len > 0 {
            // SAFETY: the caller guarantees `imsi_len` readable bytes at `imsi`.
            s = s.with_imsi(input::imsi(unsafe {
                input::bytes(imsi, imsi_len, "imsi")
            }?)?);
        }
        if !msisdn.is_null() && msisdn_len > 0 {
            // SAFETY: the caller guarantees `msisdn_len` readable bytes at `msisdn`.
            let bytes = unsafe { input::bytes(msisdn, msisdn_len, "msisdn") }?;
            let text = std::str::from_utf8(bytes)
                .map_err(|_| Failure::invalid_argument("the MSISDN is not UTF-8 digits"))?;
            s = s.with_msisdn(
                Msisdn::parse(text).map_err(|e| Failure::invalid_argument(e.to_string()))?,
            );
        }
        let code = match journal.record(&s) {
            Recorded::Queued => IMEI_INDEX_JOURNAL_QUEUED,
            Recorded::Skipped => IMEI_INDEX_JOURNAL_SKIPPED,
            Recorded::Dropped => IMEI_INDEX_JOURNAL_DROPPED,
        };
        if !outcome.is_null() {
            // SAFETY: not NULL (u8 needs no alignment); the caller guarantees it is writable.
            unsafe { outcome.write(code) };
        }
        Ok(())
    })
}

/// Writes every sighting recorded before the call to its file and syncs it, waiting for
/// the writer (a control thread's call, not a worker's).
///
/// Returns `IMEI_INDEX_RESULT_IO` when a file could not be written or synced.
///
/// Thread safety: safe to call from any thread, alongside records.
///
/// # Safety
///
/// `journal` must be NULL or an open journal.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_journal_flush(
    journal: *const imei_index_journal,
) -> imei_index_result {
    guard(|| {
        // SAFETY: the caller guarantees a journal or NULL.
        let journal = unsafe { borrow(journal) }?;
        journal
            .flush()
            .map_err(|e| Failure::new(imei_index_result::Io, e.to_string()))
    })
}

/// Writes the journal's counts to `*out`.
///
/// Thread safety: safe to call from any thread, alongside records.
///
/// # Safety
///
/// `journal` must be NULL or an open journal; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_journal_stats(
    journal: *const imei_index_journal,
    out: *mut imei_index_journal_statistics,
) -> imei_index_result {
    guard(|| {
        let out = input::non_null(out, "out")?;
        // SAFETY: the caller guarantees a journal or NULL.
        let stats = unsafe { borrow(journal) }?.stats();
        // SAFETY: not NULL, aligned; the caller guarantees it is writable.
        unsafe {
            out.as_ptr()
                .write(imei_index_journal_statistics::of(&stats))
        };
        Ok(())
    })
}

/// Writes everything queued, syncs, stops the writer and frees the journal. NULL is fine.
///
/// Thread safety: call it once per journal, after every other call with it has returned.
///
/// # Safety
///
/// `journal` must be NULL or an open journal, not yet closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_journal_close(journal: *mut imei_index_journal) {
    if journal.is_null() {
        return;
    }
    let _ = guard(|| {
        // SAFETY: the caller guarantees a journal from `Box::into_raw`, closed once.
        drop(unsafe { Box::from_raw(journal) });
        Ok(())
    });
}
