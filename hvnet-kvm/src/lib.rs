//! hvnet-kvm
