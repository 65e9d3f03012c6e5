"""Transfer learning: reuse a trained backbone for a new task (one import for all of it).

A classifier is a *backbone* (the convolutional layers that turn an image into a feature
vector) followed by a *head* (the last layer or two that turn features into class scores).
Transfer learning keeps the backbone someone trained on a big task and trains a new head, or
the whole network, on a small one. Each concept lives in its own module; this one re-exports
them all, so ``from course_utils.transfer import ...`` keeps working:

* ``course_utils.heads``: ``head_name`` / ``replace_head`` find and swap the classifier of a
  torchvision or course model; ``embed`` reads the backbone's features;
* ``course_utils.freezing``: ``freeze`` / ``freeze_backbone`` / ``parameter_counts`` choose
  what trains, ``parameter_groups`` gives backbone and head their own learning rates;
* ``course_utils.checkpoints``: ``load_matching`` loads a checkpoint into a model whose head
  has changed;
* ``course_utils.transfer_strategies``: ``train_strategy``, frozen, fine-tuned or from scratch;
* ``course_utils.digits_backbone``: ``ConvBNNet`` and ``pretrained_small_convnet``, the quick
  profile's backbone, which the course pretrains itself on scikit-learn's digits and caches in
  ``data_dir()``;
* ``course_utils.imagenet_weights``: ``download_weights`` / ``torchvision_pretrained``, the full
  profile's ImageNet weights, downloaded once into ``data_dir()``;
* ``course_utils.faces``: ``faces``, the target task, scikit-image's 200 face / non-face images
  (ship offline).
"""

from course_utils.checkpoints import LoadReport, load_matching
from course_utils.digits_backbone import (
    PRETRAINING,
    ConvBNNet,
    SmallConvNet,
    conv_bn_relu,
    pretrain_small_convnet,
    pretrained_small_convnet,
)
from course_utils.faces import (
    faces,
    held_out_faces,
    held_out_indices,
    lfw_images,
    lfw_path,
    public_faces,
)
from course_utils.freezing import freeze, freeze_backbone, parameter_counts, parameter_groups
from course_utils.heads import HEAD_NAMES, embed, head_name, replace_head
from course_utils.imagenet_weights import (
    WeightsUnavailableError,
    download_weights,
    torchvision_pretrained,
)
from course_utils.transfer_strategies import STRATEGIES, train_strategy

__all__ = [
    "HEAD_NAMES",
    "PRETRAINING",
    "STRATEGIES",
    "ConvBNNet",
    "LoadReport",
    "SmallConvNet",
    "WeightsUnavailableError",
    "conv_bn_relu",
    "download_weights",
    "embed",
    "faces",
    "freeze",
    "freeze_backbone",
    "head_name",
    "held_out_faces",
    "held_out_indices",
    "lfw_images",
    "lfw_path",
    "load_matching",
    "parameter_counts",
    "parameter_groups",
    "pretrain_small_convnet",
    "pretrained_small_convnet",
    "public_faces",
    "replace_head",
    "torchvision_pretrained",
    "train_strategy",
]
