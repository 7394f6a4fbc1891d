//! What every text input shares, before any field is read: the byte-order mark and comment
//! lines, both recognised on bytes, so that whatever encoding a file has, they mean the same.

/// The UTF-8 byte-order mark that some editors put at the start of a text file.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// The text without a UTF-8 byte-order mark at its start.
///
/// Editors on Windows (Notepad, Excel's "CSV UTF-8") start files with a byte-order mark; it
/// is an artefact, not data. Every text input of this crate and the command line (list
/// files, delta lists, `check`'s standard input, scanned logs) passes its first line
/// through this function, and only its first line: a mark anywhere else is a character
/// like any other, and an error where an identifier is expected.
///
/// # Example
///
/// ```
/// use imei_index::list::strip_bom;
///
/// assert_eq!(strip_bom(b"\xef\xbb\xbfimei,status"), b"imei,status");
/// assert_eq!(strip_bom(b"imei,status"), b"imei,status");
/// ```
pub fn strip_bom(text: &[u8]) -> &[u8] {
    text.strip_prefix(BOM).unwrap_or(text)
}

/// Whether a line (without its line end) is a comment: its first byte that is not a space
/// or a tab is `#`.
///
/// Decided on the bytes, before any decoding, so that a comment is skipped whatever its
/// encoding: a Windows-1252 `é` in a comment never stops a build, while the same byte in a
/// data row is an error that names it.
///
/// # Example
///
/// ```
/// use imei_index::list::is_comment;
///
/// assert!(is_comment(b"# national list"));
/// assert!(is_comment(b"  \t# Liste nationale, r\xe9vis\xe9e")); // Windows-1252 bytes
/// assert!(!is_comment(b"35209900,blocked # not a comment"));
/// assert!(!is_comment(b"   "));
/// ```
pub fn is_comment(line: &[u8]) -> bool {
    line.iter().find(|&&b| b != b' ' && b != b'\t') == Some(&b'#')
}
