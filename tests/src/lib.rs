//! hvnet test harness
