//! Streaming-API (advanced hunting) records: `category: AdvancedHunting-<Table>`. (Being written.)

use serde_json::Value;

use super::Input;
use crate::MapError;

pub(crate) fn to_ecs(_input: &Input<'_>, _out: &mut Vec<Value>) -> Result<(), MapError> {
    Err(MapError::new("stream event: ECS mapping not written yet"))
}

pub(crate) fn to_sentinel(_input: &Input<'_>, _out: &mut Vec<Value>) -> Result<(), MapError> {
    Err(MapError::new("stream event: Sentinel mapping not written yet"))
}
