//! The methods of an audit, by name, and the passes that compute them: a product of a CAM and a
//! pixel method yields both factors from its one pass, so a CAM or pixel method asked for beside
//! a product that contains it costs nothing more.

use gradcam_explain::{AnyCam, AnyPixel, CamSettings, CamTimes, Method};

use crate::AuditError;

/// A method of the audit, by its registry name: a CAM (`grad-cam`, `score-cam`, …), a pixel
/// method (`guided-backprop`, `integrated-gradients`, …), or a product `<cam>*<pixel>`
/// (`guided-grad-cam` is `grad-cam*guided-backprop`).
///
/// ```
/// use gradcam_audit::MethodSpec;
/// let spec: MethodSpec = "grad-cam-plus-plus*saliency".parse()?;
/// assert_eq!(spec.name(), "grad-cam-plus-plus*saliency");
/// assert_eq!(spec.column(), "grad_cam_plus_plus_x_saliency");
/// # Ok::<(), gradcam_audit::AuditError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct MethodSpec {
    name: String,
    method: Method,
}

impl MethodSpec {
    /// The name it was given by (the key of its maps and the prefix of its index columns).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Its name as a column prefix, for SQL without quoting: `-` becomes `_`, `*` `_x_`.
    pub fn column(&self) -> String {
        column_prefix(&self.name)
    }

    /// The same method with its CAM (if any) using `settings`.
    pub fn with_cam_settings(mut self, settings: CamSettings) -> Self {
        self.method = self.method.with_cam_settings(settings);
        self
    }
}

impl std::str::FromStr for MethodSpec {
    type Err = AuditError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let unknown = |error: gradcam_explain::UnknownName| AuditError::Method {
            name: name.to_owned(),
            reason: error.to_string(),
        };
        let method = if name == "guided-grad-cam" {
            Method::guided_grad_cam()
        } else if let Some((cam, pixel)) = name.split_once('*') {
            Method::Product(CamTimes::new(
                cam.parse::<AnyCam>().map_err(unknown)?,
                pixel.parse::<AnyPixel>().map_err(unknown)?,
            ))
        } else if let Ok(cam) = name.parse::<AnyCam>() {
            Method::Cam(cam)
        } else {
            Method::Pixel(name.parse::<AnyPixel>().map_err(|_| AuditError::Method {
                name: name.to_owned(),
                reason: format!(
                    "not a CAM ({}), a pixel method ({}), `guided-grad-cam` or `<cam>*<pixel>`",
                    AnyCam::NAMES.join(", "),
                    AnyPixel::NAMES.join(", ")
                ),
            })?)
        };
        Ok(Self {
            name: name.to_owned(),
            method,
        })
    }
}

/// A method name as a column prefix: `-` becomes `_`, `*` `_x_`.
pub(crate) fn column_prefix(name: &str) -> String {
    name.replace('-', "_").replace('*', "_x_")
}

/// Which of a pass's maps a method's output is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// The method's own map.
    Map,
    /// A product's upsampled CAM.
    Cam,
    /// A product's pixel attribution.
    Pixel,
}

/// One call of a method, and which methods of the audit (by index) its maps serve.
#[derive(Clone, Debug)]
pub(crate) struct Pass {
    pub method: Method,
    pub serves: Vec<(usize, Part)>,
}

/// The passes computing `specs`, each spec served once: every product first, then each CAM or
/// pixel method that no product already computes.
pub(crate) fn passes(specs: &[MethodSpec]) -> Vec<Pass> {
    let mut passes: Vec<Pass> = Vec::new();
    let mut served = vec![false; specs.len()];
    for (i, spec) in specs.iter().enumerate() {
        if let Method::Product(_) = spec.method {
            passes.push(Pass {
                method: spec.method.clone(),
                serves: vec![(i, Part::Map)],
            });
            served[i] = true;
        }
    }
    for (i, spec) in specs.iter().enumerate() {
        if served[i] {
            continue;
        }
        let shared = passes
            .iter_mut()
            .find_map(|pass| match (&pass.method, &spec.method) {
                (Method::Product(p), Method::Cam(cam)) if &p.cam == cam => Some((pass, Part::Cam)),
                (Method::Product(p), Method::Pixel(pixel)) if &p.pixel == pixel => {
                    Some((pass, Part::Pixel))
                }
                _ => None,
            });
        match shared {
            Some((pass, part)) => pass.serves.push((i, part)),
            None => passes.push(Pass {
                method: spec.method.clone(),
                serves: vec![(i, Part::Map)],
            }),
        }
    }
    passes
}

/// The channels of a method's maps for an input of `channels`: one for a CAM, the input's for
/// the rest.
pub(crate) fn map_channels(method: &Method, channels: usize) -> usize {
    match method {
        Method::Cam(_) => 1,
        Method::Pixel(_) | Method::Product(_) => channels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(names: &[&str]) -> Vec<MethodSpec> {
        names.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn a_products_factors_serve_the_methods_asked_beside_it() {
        let plan = passes(&specs(&["grad-cam", "guided-grad-cam", "guided-backprop"]));
        assert_eq!(
            plan.len(),
            1,
            "one pass for Guided Grad-CAM and its two factors"
        );
        assert_eq!(
            plan[0].serves,
            [(1, Part::Map), (0, Part::Cam), (2, Part::Pixel)]
        );
        // A CAM that is not the product's own costs a pass of its own.
        let plan = passes(&specs(&["guided-grad-cam", "score-cam", "saliency"]));
        assert_eq!(plan.len(), 3);
        assert!(plan.iter().all(|p| p.serves.len() == 1));
    }

    #[test]
    fn names_parse_or_are_refused_with_the_registry() {
        let spec: MethodSpec = "layer-cam*input-x-gradient".parse().unwrap();
        assert!(matches!(spec.method(), Method::Product(_)));
        assert_eq!(spec.column(), "layer_cam_x_input_x_gradient");
        let error = "grad-cam*nonsense".parse::<MethodSpec>().unwrap_err();
        assert!(error.to_string().contains("nonsense"), "{error}");
        let error = "nonsense".parse::<MethodSpec>().unwrap_err();
        assert!(error.to_string().contains("guided-backprop"), "{error}");
    }
}
