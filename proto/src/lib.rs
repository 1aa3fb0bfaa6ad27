//! The gRPC API of ccd, generated from `cc/<area>/v1/*.proto`.

#![allow(missing_debug_implementations, clippy::unwrap_used)]

pub mod sip {
    pub mod internal {
        pub mod v1 {
            tonic::include_proto!("cc.sip.internal.v1");
        }
    }
    pub mod v1 {
        tonic::include_proto!("cc.sip.v1");
    }
}

pub mod agents {
    pub mod v1 {
        tonic::include_proto!("cc.agents.v1");
    }
}

pub mod calls {
    pub mod v1 {
        tonic::include_proto!("cc.calls.v1");
    }
}

pub mod events {
    pub mod v1 {
        tonic::include_proto!("cc.events.v1");
    }
}

pub mod config {
    pub mod v1 {
        tonic::include_proto!("cc.config.v1");
    }
}

pub mod callbacks {
    pub mod v1 {
        tonic::include_proto!("cc.callbacks.v1");
    }
}

pub mod messages {
    pub mod v1 {
        tonic::include_proto!("cc.messages.v1");
    }
}

pub mod reporting {
    pub mod v1 {
        tonic::include_proto!("cc.reporting.v1");
    }
}

pub mod queues {
    pub mod v1 {
        tonic::include_proto!("cc.queues.v1");
    }
}

pub mod routing {
    pub mod internal {
        pub mod v1 {
            tonic::include_proto!("cc.routing.internal.v1");
        }
    }
}

pub mod queue {
    pub mod internal {
        pub mod v1 {
            tonic::include_proto!("cc.queue.internal.v1");
        }
    }
}

pub mod presence {
    pub mod internal {
        pub mod v1 {
            tonic::include_proto!("cc.presence.internal.v1");
        }
    }
}

pub mod media {
    pub mod internal {
        pub mod v1 {
            tonic::include_proto!("cc.media.internal.v1");
        }
    }
}

/// Encoded descriptors of every proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("cc_descriptor");
