//! Subscribers: the register rows behind a rule that several rows make.

use crate::model::ident::{Imei, Imsi, Msisdn};
use crate::model::rule::Date;
use crate::model::source::{Reasons, Source};

/// Which register list a [`Subscriber`] row is from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubscriberList {
    /// A notification list: a subscriber to tell that their handset will be blocked.
    Notification,
    /// An exception list: a subscriber whose use of a listed handset is allowed.
    Exception,
}

impl SubscriberList {
    pub(crate) fn code(self) -> u8 {
        match self {
            SubscriberList::Notification => 1,
            SubscriberList::Exception => 2,
        }
    }

    pub(crate) fn from_code(c: u8) -> Option<SubscriberList> {
        match c {
            1 => Some(SubscriberList::Notification),
            2 => Some(SubscriberList::Exception),
            _ => None,
        }
    }
}

/// One row of a register's notification or exception list, kept in an index beside the
/// rule it makes (docs/semantics.md): several rows for one IMEI (one per subscriber) make
/// one rule, which stays while any row does, and the subscribers to notify can be exported.
///
/// An index keeps its rows per source, sorted by (source, IMEI, IMSI, MSISDN), each once.
///
/// # Example
///
/// ```
/// use imei_index::{Entry, Imei, Imsi, Index, IndexBuilder, Reasons, Rule, Source, Status, Subscriber,
///                  SubscriberList};
///
/// let source: Source = "dirbs/notifications/op1".parse()?;
/// let imei = Imei::parse("35111111111110")?;
/// let row = Subscriber {
///     source: source.clone(),
///     list: SubscriberList::Notification,
///     imei,
///     imsi: Imsi::parse("111015111111111")?,
///     msisdn: Some("223355000000".parse()?),
///     block_date: Some("2017-01-21".parse()?),
///     reasons: Reasons::new(["not_registered"])?,
/// };
/// let mut b = IndexBuilder::new();
/// b.add(Rule::imei(imei, Entry::new(Status::Blocked)).with_source(source));
/// b.add_subscriber(row.clone());
/// let index = Index::from_bytes(b.build_to_vec()?.0.into())?;
/// assert_eq!(index.subscribers().collect::<Vec<_>>(), [row]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Subscriber {
    /// The source (register list) the row belongs to.
    pub source: Source,
    /// Which list.
    pub list: SubscriberList,
    /// The handset.
    pub imei: Imei,
    /// The subscriber's IMSI.
    pub imsi: Imsi,
    /// The subscriber's MSISDN, when the register gives it.
    pub msisdn: Option<Msisdn>,
    /// The row's block date (notifications).
    pub block_date: Option<Date>,
    /// The row's reasons (notifications).
    pub reasons: Reasons,
}
