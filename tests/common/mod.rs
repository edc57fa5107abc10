//! Helpers shared by integration tests (each test binary uses a part of them).
#![allow(dead_code)]

pub mod cli;
pub mod stat;
