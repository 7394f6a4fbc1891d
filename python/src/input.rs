//! Reading IMEIs and IMSIs as Python gives them: strings (any form `Imei::parse` reads)
//! and integers (the 14-digit number of TAC and serial, as the C API's `imei14`).
//!
//! Batches go through [`imei`] on every value, so it has a fast path for the common forms
//! (14 or 15 plain digits) that reads the digits and the Luhn sum in one pass; anything
//! else, and every error, goes through the library's own parser, so the answers and the
//! messages are the library's.

use imei_index::{IdError, Imei, Imsi};

use crate::arrow::import::Value;

/// An IMEI as read: the handset, and whether the input's check digit was right or absent
/// (`false` only for a wrong 15th digit read leniently).
pub(crate) type Read = (Imei, bool);

/// Doubled Luhn digits: `2d` with its digits summed.
const DOUBLED: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];

/// The value and the Luhn check digit of 14 ASCII digits, or `None` if one is not a digit.
#[inline]
fn fourteen(b: &[u8; 14]) -> Option<(u64, u8)> {
    let mut value = 0u64;
    let mut sum = 0u32;
    for (i, &c) in b.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value * 10 + u64::from(d);
        // Counting from the right of the 14 digits, every other digit is doubled, the
        // rightmost first: those at odd positions from the left.
        sum += if i % 2 == 1 {
            DOUBLED[usize::from(d)]
        } else {
            u32::from(d)
        };
    }
    Some((value, ((10 - sum % 10) % 10) as u8))
}

/// Reads an IMEI from text: strictly (a 15th digit must be the check digit) or leniently.
///
/// # Errors
///
/// The library's parse error, whose message says what is wrong and where.
#[inline]
pub(crate) fn imei_text(b: &[u8], lenient: bool) -> Result<Read, IdError> {
    if b.len() == 15 || b.len() == 14 {
        let head: &[u8; 14] = b[..14].try_into().expect("14 bytes");
        if let Some((value, check)) = fourteen(head) {
            let imei = Imei::from_u64(value).expect("14 digits are below 10^14");
            match b.get(14) {
                None => return Ok((imei, true)),
                Some(&c) if c == b'0' + check => return Ok((imei, true)),
                Some(c) if c.is_ascii_digit() && lenient => return Ok((imei, false)),
                _ => {} // the library's parser says what is wrong
            }
        }
    }
    slow(b, lenient)
}

#[cold]
fn slow(b: &[u8], lenient: bool) -> Result<Read, IdError> {
    let text = String::from_utf8_lossy(b);
    if lenient {
        Imei::parse_lenient(&text).map(|l| (l.imei, l.check_digit.is_ok()))
    } else {
        Imei::parse(&text).map(|imei| (imei, true))
    }
}

/// Reads an IMEI given as a number: the 14 digits of TAC and serial, without a check digit.
///
/// # Errors
///
/// A message for a negative number or one of more than 14 digits.
#[inline]
pub(crate) fn imei_number(n: i128) -> Result<Read, String> {
    match u64::try_from(n) {
        Ok(n) => Imei::from_u64(n).map(|i| (i, true)).map_err(|e| {
            format!("{e} (a number is the IMEI's 14 digits, without the check digit)")
        }),
        Err(_) => Err(format!(
            "{n} is not an IMEI: a number is the IMEI's 14 digits (TAC and serial number), from 0 to 99999999999999"
        )),
    }
}

/// The message for a null (missing) IMEI.
pub(crate) const NULL_IMEI: &str = "the IMEI is missing (null)";

/// Reads an IMEI from one value of an input array.
#[inline]
pub(crate) fn imei_value(v: Option<Value<'_>>, lenient: bool) -> Result<Read, String> {
    match v {
        Some(Value::Str(b)) => imei_text(b, lenient).map_err(|e| e.to_string()),
        Some(Value::Int(n)) => imei_number(n),
        None => Err(NULL_IMEI.to_string()),
    }
}

/// Reads an IMSI from one value of an input array: `None` for a null (check without it).
///
/// # Errors
///
/// A message saying what is wrong, prefixed with "IMSI" so that a row's error says which
/// of its fields it is about.
pub(crate) fn imsi_value(v: Option<Value<'_>>) -> Option<Result<Imsi, String>> {
    let parsed = match v? {
        Value::Str(b) => Imsi::parse(&String::from_utf8_lossy(b)),
        Value::Int(n) => Imsi::parse(&n.to_string()),
    };
    Some(parsed.map_err(|e| format!("IMSI ignored: {e}")))
}

#[cfg(test)]
mod tests {
    // The crate is tested from Python (python/tests); this module's fast path is checked
    // there against the library's parser on every form. Nothing here links libpython.
}
