//! Result codes, the per-thread error message, and the guard every entry point runs in.

use std::cell::RefCell;
use std::ffi::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use ::imei_index::{Error, ErrorChain};

/// What a function of the C API did: `IMEI_INDEX_RESULT_OK` (0), or why it failed.
///
/// Every failure also sets this thread's error message, which says what was wrong and
/// where; read it with `imei_index_last_error`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum imei_index_result {
    /// Success.
    Ok = 0,
    /// An argument has a value the function does not accept (an unknown flag, a length
    /// too large for memory, a misaligned pointer).
    InvalidArgument = 1,
    /// A pointer argument that must not be NULL was NULL.
    NullPointer = 2,
    /// The IMEI is not one: empty, a non-digit, a wrong length, a wrong check digit (the
    /// strict functions only) or a 5G PEI naming a MAC address or EUI-64.
    InvalidImei = 3,
    /// The IMSI is not one: empty, a non-digit, or not 5 to 15 digits.
    InvalidImsi = 4,
    /// The index file could not be opened, read or mapped.
    Io = 5,
    /// The bytes are not a valid index: empty, truncated, foreign, of another format
    /// version, or corrupt.
    CorruptIndex = 6,
    /// A bug: the library panicked. The call was abandoned, the caller's process goes on.
    Panic = 7,
    /// Memory for the call could not be allocated (for example a copy of a very large
    /// index): nothing changed, and the process goes on.
    OutOfMemory = 8,
}

impl imei_index_result {
    /// Every code, in order.
    const ALL: [imei_index_result; 9] = [
        imei_index_result::Ok,
        imei_index_result::InvalidArgument,
        imei_index_result::NullPointer,
        imei_index_result::InvalidImei,
        imei_index_result::InvalidImsi,
        imei_index_result::Io,
        imei_index_result::CorruptIndex,
        imei_index_result::Panic,
        imei_index_result::OutOfMemory,
    ];

    /// A fixed description of the code, NUL-terminated.
    fn description(self) -> &'static str {
        match self {
            imei_index_result::Ok => "success\0",
            imei_index_result::InvalidArgument => "invalid argument\0",
            imei_index_result::NullPointer => "NULL pointer\0",
            imei_index_result::InvalidImei => "invalid IMEI\0",
            imei_index_result::InvalidImsi => "invalid IMSI\0",
            imei_index_result::Io => "I/O error\0",
            imei_index_result::CorruptIndex => "corrupt index\0",
            imei_index_result::Panic => "internal error (panic)\0",
            imei_index_result::OutOfMemory => "out of memory\0",
        }
    }
}

/// Why a call failed: its result code and the message for `imei_index_last_error`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: imei_index_result,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: imei_index_result, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A NULL pointer where the caller had to pass one.
    pub(crate) fn null(what: &str) -> Failure {
        Failure::new(
            imei_index_result::NullPointer,
            format!("{what} is NULL: pass a valid pointer"),
        )
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Failure {
        Failure::new(imei_index_result::InvalidArgument, message)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let code = match e {
            Error::Io { .. } => imei_index_result::Io,
            Error::Format { .. } => imei_index_result::CorruptIndex,
            // Opening never reads list files; were it ever to, bad input is bad bytes.
            Error::List(_) => imei_index_result::CorruptIndex,
            // The C API layers no deltas; were it to, a delta on the wrong base is a caller's
            // mistake.
            Error::DeltaBase { .. } => imei_index_result::InvalidArgument,
            // A kind of error the core gains later: its message says what happened; until
            // it has a code of its own, it is the caller's input that was refused.
            _ => imei_index_result::InvalidArgument,
        };
        Failure::new(code, ErrorChain(&e).to_string())
    }
}

thread_local! {
    /// The message of this thread's most recent failed call.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: String) {
    // `try_with` because a call from a thread-local destructor may come after ours is gone;
    // the message is lost then, but the result code still says what happened.
    let _ = LAST_ERROR.try_with(|m| *m.borrow_mut() = message);
}

/// Runs the body of an entry point: turns its failure, or a panic, into a result code and
/// this thread's error message. Unwinding into C is undefined behaviour, so every function
/// of the C API runs inside this guard.
pub(crate) fn guard(body: impl FnOnce() -> Result<(), Failure>) -> imei_index_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => imei_index_result::Ok,
        Ok(Err(failure)) => {
            set_last_error(failure.message);
            failure.code
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("no message");
            let message = format!(
                "imei-index panicked ({what}): this is a bug, please report it; the call was \
                 abandoned and changed nothing"
            );
            // Dropping a payload runs its destructor, which could panic in turn.
            let _ = catch_unwind(AssertUnwindSafe(|| drop(payload)));
            set_last_error(message);
            imei_index_result::Panic
        }
    }
}

/// Copies this thread's last error message into `buf`, and returns its full length.
///
/// The message belongs to the most recent call on this thread that returned an error;
/// successful calls leave it alone (as `errno`), so read it right after the failing call.
/// It is empty (length 0) when no call on this thread has failed. The message is UTF-8,
/// one line, with no trailing newline.
///
/// Like `snprintf`: at most `len - 1` bytes are written, followed by a NUL; a message that
/// does not fit is cut at a character boundary. The return value is the message's length
/// in bytes without the NUL, so a return value `>= len` means the message was cut. Call
/// with `buf = NULL, len = 0` to learn the size to allocate (the return value plus one).
///
/// Thread safety: safe to call from any thread; each thread has its own message.
///
/// # Safety
///
/// `buf` must be NULL or point to `len` writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn imei_index_last_error(buf: *mut c_char, len: usize) -> usize {
    catch_unwind(|| {
        LAST_ERROR
            .try_with(|m| {
                // SAFETY: the caller guarantees `buf` is NULL or `len` writable bytes.
                unsafe { copy_message(&m.borrow(), buf, len) }
            })
            .unwrap_or(0)
    })
    .unwrap_or(0)
}

/// Copies `message` into `buf` like `snprintf` (at most `len - 1` bytes, cut at a
/// character boundary, then a NUL) and returns its full length.
///
/// # Safety
///
/// `buf` must be NULL or point to `len` writable bytes.
pub(crate) unsafe fn copy_message(message: &str, buf: *mut c_char, len: usize) -> usize {
    if !buf.is_null() && len > 0 {
        let mut n = message.len().min(len - 1);
        while !message.is_char_boundary(n) {
            n -= 1;
        }
        // SAFETY: the caller guarantees `len` writable bytes at `buf`; n < len. The source
        // is our own string, which cannot overlap the caller's buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(message.as_ptr(), buf.cast::<u8>(), n);
            buf.add(n).write(0);
        }
    }
    message.len()
}

/// A fixed English description of a result code ("invalid IMEI"), never NULL.
///
/// For logs that record the code alone; `imei_index_last_error` says what exactly went
/// wrong. A number that is no result code gives "unknown result code". The string is
/// static: do not free it.
///
/// Thread safety: safe to call from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn imei_index_result_text(result: c_int) -> *const c_char {
    // Takes an int, not the enum: a C caller can pass any number, and an out-of-range
    // value of a Rust enum would be undefined behaviour.
    let text = imei_index_result::ALL
        .into_iter()
        .find(|&r| r as c_int == result)
        .map_or("unknown result code\0", imei_index_result::description);
    text.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last_error() -> String {
        // SAFETY: NULL with length 0 is allowed and writes nothing.
        let n = unsafe { imei_index_last_error(std::ptr::null_mut(), 0) };
        let mut buf = vec![0u8; n + 1];
        // SAFETY: `buf` has `buf.len()` writable bytes.
        let m = unsafe { imei_index_last_error(buf.as_mut_ptr().cast(), buf.len()) };
        assert_eq!(m, n);
        CStr::from_bytes_until_nul(&buf)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_panic_becomes_a_result_code_and_a_message() {
        let r = guard(|| panic!("deliberately, in a test"));
        assert_eq!(r, imei_index_result::Panic);
        let m = last_error();
        assert!(m.contains("deliberately, in a test"), "{m}");
        let r = guard(|| std::panic::panic_any(42u32));
        assert_eq!(r, imei_index_result::Panic);
        assert!(last_error().contains("no message"));
    }

    #[test]
    fn failures_set_the_message_and_successes_keep_it() {
        let r = guard(|| Err(Failure::null("the widget")));
        assert_eq!(r, imei_index_result::NullPointer);
        assert_eq!(last_error(), "the widget is NULL: pass a valid pointer");
        assert_eq!(guard(|| Ok(())), imei_index_result::Ok);
        assert_eq!(last_error(), "the widget is NULL: pass a valid pointer");
    }

    #[test]
    fn messages_are_cut_at_character_boundaries() {
        // "é" is two bytes; a 4-byte buffer holds "aé" (3 bytes) + NUL, a 3-byte one "a".
        guard(|| Err(Failure::invalid_argument("aéb")));
        let full = "aéb".len();
        for (len, expect) in [(1, ""), (2, "a"), (3, "a"), (4, "aé"), (5, "aéb")] {
            let mut buf = [0xffu8; 8];
            // SAFETY: `buf` has 8 >= len writable bytes.
            let n = unsafe { imei_index_last_error(buf.as_mut_ptr().cast(), len) };
            assert_eq!(n, full);
            let got = CStr::from_bytes_until_nul(&buf).unwrap().to_str().unwrap();
            assert_eq!(got, expect, "len {len}");
            assert!(buf[len..].iter().all(|&b| b == 0xff), "wrote past {len}");
        }
    }

    #[test]
    fn messages_are_per_thread() {
        guard(|| Err(Failure::invalid_argument("main thread")));
        std::thread::spawn(|| {
            assert_eq!(last_error(), "");
            guard(|| Err(Failure::invalid_argument("other thread")));
            assert_eq!(last_error(), "other thread");
        })
        .join()
        .unwrap();
        assert_eq!(last_error(), "main thread");
    }

    #[test]
    fn every_code_has_a_text() {
        for r in imei_index_result::ALL {
            // SAFETY: the function returns a static NUL-terminated string.
            let text = unsafe { CStr::from_ptr(imei_index_result_text(r as c_int)) };
            assert!(!text.is_empty());
            assert_ne!(text.to_str().unwrap(), "unknown result code");
        }
        for bad in [-1, 9, c_int::MAX] {
            // SAFETY: as above.
            let text = unsafe { CStr::from_ptr(imei_index_result_text(bad)) };
            assert_eq!(text.to_str().unwrap(), "unknown result code");
        }
    }
}
