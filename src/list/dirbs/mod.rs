//! A national register's list files, as DIRBS writes them: their names, their rows, and
//! which of a zip's members to read.
//!
//! Each run of the register (DIRBS-Core's `dirbs-listgen`) writes a blacklist, and per
//! operator a notification list and an exception list, each as a full file and as delta files
//! from an earlier run, one per change, and zips each list's files:
//!
//! ```text
//! 20160301_101502_blacklist.zip
//!     20160301_101502_blacklist.csv                          imei,block_date,reasons
//!     20160301_101502_blacklist_delta_-1_57_blocked.csv      the same columns
//!     20160301_101502_blacklist_delta_-1_57_unblocked.csv
//!     20160301_101502_blacklist_delta_-1_57_changed.csv
//! 20160301_101502_notifications_op1.zip                      imei,imsi,msisdn,block_date,reasons
//!     …_notifications_op1.csv, …_notifications_op1_delta_-1_57_{new,resolved,blacklisted,no_longer_seen,changed}.csv
//! 20160301_101502_exceptions_op1.zip                         imei,imsi,msisdn
//!     …_exceptions_op1.csv, …_exceptions_op1_delta_-1_57_{added,removed}.csv
//! ```
//!
//! * [`FileName`] parses a file's name: the run's [`RunStamp`], the [`List`] (and operator),
//!   and for a delta its [`DeltaRun`] (base run, run, [`ChangeType`]); [`ZipName`] a zip's.
//!   [`FileName::source_name`] names the source its rules belong to (`dirbs/blacklist`,
//!   `dirbs/notifications/OP`, `dirbs/exceptions/OP`).
//! * [`Reader`] reads a file's rows into [`Row`]s, plain data: what the rows mean is decided
//!   elsewhere (docs/semantics.md). Every row that cannot be read is a located
//!   [`ListError`](crate::list::ListError), never a silent drop.
//! * [`select`] picks one list's files out of a zip's member names (or a directory's) by
//!   their parsed names and orders them: full list first, then deltas. This crate reads no
//!   zip itself; the command line does, with this.
//!
//! docs/register-files.md describes the files and the register's quirks.
//!
//! # Examples
//!
//! The blacklist (a full file; its delta files have the same columns):
//!
//! ```
//! use imei_index::list::dirbs::{FileName, List, Reader};
//!
//! let name = FileName::parse("20160301_101502_blacklist.csv")?;
//! assert_eq!((&name.list, name.delta), (&List::Blacklist, None));
//! let csv = "imei,block_date,reasons\r\n\
//!            12345678901230,20160201,Duplicate IMEI detected|TAC not found in GSMA TAC database\r\n\
//!            12345678901227,20160601,\"Stolen, reported by police\"\r\n";
//! let rows: Vec<_> = Reader::new("blacklist.csv", csv.as_bytes(), Some(name.list.kind()))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(rows[0].reasons, ["Duplicate IMEI detected", "TAC not found in GSMA TAC database"]);
//! assert_eq!(rows[1].reasons, ["Stolen, reported by police"]);
//! assert_eq!(rows[1].block_date.unwrap().to_string(), "2016-06-01");
//! assert_eq!((rows[1].imsi, rows[1].msisdn), (None, None));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A notification delta, of a register that grants amnesty (the header says so):
//!
//! ```
//! use imei_index::list::dirbs::{ChangeType, FileName, Reader};
//!
//! let path = "20170120_090000_notifications_op_1_delta_71_80_new.csv";
//! let name = FileName::parse(path)?;
//! assert_eq!(name.delta.map(|d| d.change), Some(ChangeType::New));
//! assert_eq!(name.source_name(), "dirbs/notifications/op_1");
//! let csv = "imei,imsi,msisdn,block_date,reasons,amnesty_granted\r\n\
//!            35111111111110,111015111111111,223355000000,20170121,not_registered|stolen,False\r\n\
//!            86222222222226,111018001111111,223338000000,20170201,not_registered,True\r\n";
//! let rows: Vec<_> = Reader::new(path, csv.as_bytes(), Some(name.list.kind()))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(rows[0].imsi.unwrap().to_string(), "111015111111111");
//! assert_eq!(rows[0].msisdn.unwrap().to_string(), "223355000000");
//! assert_eq!(rows[0].reasons, ["not_registered", "stolen"]);
//! assert_eq!(rows.iter().map(|r| r.amnesty_granted).collect::<Vec<_>>(), [Some(false), Some(true)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! An exception list read without a name to go by: the header says which list it is.
//!
//! ```
//! use imei_index::list::dirbs::{ListKind, Reader};
//!
//! let csv = "IMEI,IMSI,MSISDN\n81111101313646,111018001111111,555555555555551\n";
//! let mut rows = Reader::new("pairings.csv", csv.as_bytes(), None);
//! let row = rows.next().unwrap()?;
//! assert_eq!(rows.kind(), Some(ListKind::Exceptions));
//! assert_eq!(row.imsi.unwrap().to_string(), "111018001111111");
//! assert_eq!((row.block_date, row.reasons.len()), (None, 0));
//! # Ok::<(), imei_index::list::ListError>(())
//! ```
//!
//! A file whose header is another list's than its name says is refused, and nothing of it is
//! read:
//!
//! ```
//! use imei_index::list::dirbs::{FileName, Reader};
//!
//! let path = "20160301_101502_exceptions_op1.csv";
//! let csv = "imei,block_date,reasons\n12345678901230,20160401,Duplicate IMEI detected\n";
//! let mut rows = Reader::new(path, csv.as_bytes(), Some(FileName::parse(path)?.list.kind()));
//! let err = rows.next().unwrap().unwrap_err();
//! assert!(err.is_fatal());
//! assert!(err.to_string().starts_with(&format!(
//!     "{path}:1:1: the header row is the blacklist's, but the file is read as an exception list"
//! )));
//! assert!(rows.next().is_none());
//! # Ok::<(), imei_index::list::dirbs::NameError>(())
//! ```

mod name;
mod reader;
mod select;

pub use self::name::{
    ChangeType, DeltaRun, FileName, List, ListKind, NameError, NameProblem, REGISTER, RunStamp,
    ZipName,
};
pub use self::reader::{Reader, Row};
pub use self::select::{Selection, select};
