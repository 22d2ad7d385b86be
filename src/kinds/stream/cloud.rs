//! cloud tables (stub: the helper who owns this family replaces it).

use super::Record;
use crate::doc::Doc;
use crate::MapError;

pub(crate) fn map(rec: &Record<'_>, _doc: &mut Doc) -> Result<(), MapError> {
    Err(MapError::new(format!("stream event: table {} is not mapped yet", rec.table)))
}
