//! ImageLocality: prefer nodes that already have the pod's images, weighted by image size
//! and by how widely the image is spread (so one node with a popular image does not
//! attract everything).

use kube_core::{PodInfo, Snapshot};

use crate::events::ClusterEvent;
use crate::framework::{
    CycleState, MAX_NODE_SCORE, NodeRef, Plugin, PreScorePlugin, PreScoreResult, ScorePlugin,
};

/// The plugin's name.
pub const NAME: &str = "ImageLocality";

const MB: i64 = 1024 * 1024;
/// Below this sum of image sizes a node scores 0.
const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container, above this sum a node scores the maximum.
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// Score: `100 * (sum - 23MB) / (1000MB * containers - 23MB)`, clamped, where `sum` adds,
/// for each image of the pod present on the node, its size times the fraction of nodes
/// that have it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImageLocality;

#[derive(Clone, Debug)]
struct Spread(Vec<(String, f64)>);

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> &'static [ClusterEvent] {
        &[ClusterEvent::NODE_ADD, ClusterEvent::NODE_UPDATE]
    }
}

impl PreScorePlugin for ImageLocality {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        _: &[NodeRef<'_>],
    ) -> PreScoreResult {
        let total = snapshot.len().max(1) as f64;
        let spread: Vec<(String, f64)> = pod
            .images()
            .iter()
            .filter_map(|img| {
                let n = snapshot.image_node_count(img);
                (n > 0).then(|| (img.clone(), n as f64 / total))
            })
            .collect();
        if spread.is_empty() {
            // No node has any of the images: every node would score 0.
            return PreScoreResult::Skip;
        }
        state.write(Spread(spread));
        PreScoreResult::Proceed
    }
}

impl ScorePlugin for ImageLocality {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeRef<'_>) -> i64 {
        let Some(spread) = state.read::<Spread>() else {
            return 0;
        };
        let images = node.images();
        let sum: i64 = spread
            .0
            .iter()
            .filter_map(|(img, frac)| images.get(img).map(|size| (*size as f64 * frac) as i64))
            .sum();
        let containers = pod.images().len().max(1) as i64;
        let max = MAX_CONTAINER_THRESHOLD * containers;
        let sum = sum.clamp(MIN_THRESHOLD, max);
        MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, pod};

    #[test]
    fn image_locality_scores_size_times_spread() {
        let a = node("a").image("web:1", 500 * MB).info();
        let b = node("b")
            .image("web:1", 500 * MB)
            .image("db", 300 * MB)
            .info();
        let c = node("c").image("tiny:1", MB).info();
        let snap = Snapshot::from_nodes([a, b, c]);
        let p = pod("p").image("web:1").image("db:latest").info();
        let mut s = CycleState::new();
        let nodes: Vec<NodeRef<'_>> = snap.nodes().iter().map(|n| NodeRef::of(n)).collect();
        assert_eq!(
            ImageLocality.pre_score(&mut s, &p, &snap, &nodes),
            PreScoreResult::Proceed
        );
        let scores: Vec<i64> = snap
            .nodes()
            .iter()
            .map(|n| ImageLocality.score(&s, &p, &NodeRef::of(n)))
            .collect();
        // a: 500MB * 2/3 = 333MB -> 100 * (333-23) / (2000-23) = 15.
        // b: 333MB + 300MB * 1/3 = 433MB -> 20. c: below the threshold -> 0.
        assert_eq!(scores, vec![15, 20, 0]);
        let none = pod("q").image("other").info();
        assert_eq!(
            ImageLocality.pre_score(&mut CycleState::new(), &none, &snap, &nodes),
            PreScoreResult::Skip
        );
    }
}
