//! The integration tests, one binary: each module is a file of `tests/` (`soak.rs`, which
//! measures its own process's memory, is a binary of its own). One binary links Burn once
//! instead of once per file.

mod common;

mod audit_pipeline;
mod backend_parity;
mod data_formats;
mod deeplift_parity;
mod example_job;
mod explain_parity;
mod explain_properties;
mod factorization_parity;
mod families_parity;
mod image_files;
mod layer_parity;
mod lrp_parity;
mod methods_parity;
mod metrics_parity;
mod metrics_properties;
mod model_parity;
mod perturbation_parity;
mod robustness;
mod segmentation_parity;
mod shap_parity;
mod shapley_parity;
mod stability;
mod teeth;
mod vit_parity;
mod weights_loading;
mod zoo_loading;
mod zoo_parity;
