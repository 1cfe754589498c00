//! The code prost and tonic generate from `Protos/` (see `build.rs`). BioID's messages file
//! has no package, so its messages live at the root of this module, and the service's package
//! `bioid.services.v1` refers to them from three levels down (`super::super::super`).

// Generated code of the whole published API: messages this service does not use (those of
// PhotoVerify and VideoLivenessDetection) stay, so the wire definitions remain BioID's.
#![allow(clippy::all, clippy::pedantic, missing_docs, dead_code)]

include!(concat!(env!("OUT_DIR"), "/_.rs"));

pub mod bioid {
    pub mod services {
        pub mod v1 {
            #![allow(clippy::all, clippy::pedantic, missing_docs)]
            include!(concat!(env!("OUT_DIR"), "/bioid.services.v1.rs"));
        }
    }
}

pub use bioid::services::v1::bio_id_web_service_server::{BioIdWebService, BioIdWebServiceServer};
pub use bioid::services::v1::{
    LivenessDetectionRequest, LivenessDetectionResponse, PhotoVerifyRequest, PhotoVerifyResponse,
    VideoLivenessDetectionRequest,
};
