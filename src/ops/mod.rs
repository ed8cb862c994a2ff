//! Host-side dispatch of each op: validation, then one recorded kernel.
//!
//! Every op comes in two forms on [`Gpu`](crate::Gpu): a convenience call that
//! allocates its output and submits (without waiting), and a `record_*` call
//! that records into the caller's `CommandEncoder` with no submit of its own.

pub(crate) mod dispatch;
mod relu;
