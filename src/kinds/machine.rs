//! machine: mapping to ECS and to Sentinel. (Being written.)

use serde_json::Value;

use super::Input;
use crate::MapError;

pub(crate) fn to_ecs(_input: &Input<'_>, _out: &mut Vec<Value>) -> Result<(), MapError> {
    Err(MapError::new("machine: ECS mapping not written yet"))
}

pub(crate) fn to_sentinel(_input: &Input<'_>, _out: &mut Vec<Value>) -> Result<(), MapError> {
    Err(MapError::new("machine: Sentinel mapping not written yet"))
}
