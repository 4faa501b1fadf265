"""``keras-fsq generate``: new images from a MaskGIT generator (a shipped preset or a ``.keras`` file)."""

import pathlib

from keras_fsq.cli.arguments import add_overwrite, non_negative_float, non_negative_int, positive_float, positive_int

MAX_IMAGES = 100_000  # one folder of PNGs; generate more in several runs (other --seed, other --out)


def add_parser(commands):
    generate = commands.add_parser(
        "generate", help="generate images with a MaskGIT prior over FSQ tokens (PNGs and a grid)"
    )
    generate.add_argument(
        "--model", default="maskgit_cifar10", help="a generator preset (maskgit_cifar10) or a .keras MaskGIT"
    )
    generate.add_argument("--num", type=positive_int, default=100, help=f"how many images (at most {MAX_IMAGES})")
    generate.add_argument(
        "--class",
        dest="class_label",
        type=int,
        help="generate this class only (CIFAR-10: 0 airplane ... 9 truck; default: the classes in turn)",
    )
    generate.add_argument("--unconditional", action="store_true", help="ignore classes (the null class)")
    generate.add_argument("--steps", type=positive_int, help="parallel decoding steps (default: the preset's)")
    generate.add_argument("--temperature", type=positive_float, help="sampling temperature (default: the preset's)")
    generate.add_argument(
        "--guidance", type=non_negative_float, help="classifier-free guidance (default: the preset's)"
    )
    generate.add_argument(
        "--choice-temperature",
        type=non_negative_float,
        help="Gumbel noise on which samples each step keeps (default: the preset's)",
    )
    generate.add_argument(
        "--seed", type=non_negative_int, default=0, help="the same seed gives the same images on a backend"
    )
    generate.add_argument("--out", required=True, help="folder for 0000.png, 0001.png, ... and grid.png")
    add_overwrite(generate, "an earlier run's images in --out")


def load_generator(name):
    """A generator preset's model, or a ``.keras`` MaskGIT, and its ``SamplingSettings`` (a file's: the
    defaults, with guidance 1 for a class-conditional model)."""
    from keras_fsq import presets
    from keras_fsq.maskgit import MaskGIT, SamplingSettings
    from keras_fsq.saving import load_model

    if pathlib.Path(name).suffix == ".keras":
        if not pathlib.Path(name).is_file():
            raise FileNotFoundError(f"--model {name} does not exist.")
        model = load_model(name)
        if not isinstance(model, MaskGIT) or model.tokenizer is None:
            raise ValueError(f"--model {name} is not a MaskGIT with its tokenizer.")
        return model, SamplingSettings(guidance=1.0 if model.num_classes else 0.0)
    return MaskGIT.from_preset(name), SamplingSettings(**presets.resolve_generator(name).sampling)


def run(args):
    import numpy as np

    from keras_fsq import files, reporting
    from keras_fsq.data import save_image

    if args.num > MAX_IMAGES:
        raise ValueError(f"--num {args.num} is over {MAX_IMAGES} images per run; use several runs with other seeds.")
    if args.unconditional and args.class_label is not None:
        raise ValueError("--class and --unconditional contradict each other; give one.")
    names = [f"{number:04d}.png" for number in range(args.num)] + ["grid.png"]
    out = pathlib.Path(args.out)
    earlier = sorted(p.name for p in out.glob("[0-9][0-9][0-9][0-9]*.png")) if out.is_dir() else []
    # An earlier run's images are this run's outputs too: replaced or removed, never left beside the new ones.
    outputs = names + [name for name in earlier if name not in names]
    model, settings = load_generator(args.model)
    given = {
        "steps": args.steps,
        "temperature": args.temperature,
        "guidance": args.guidance,
        "choice_temperature": args.choice_temperature,
    }
    settings = settings.with_changes(**{key: value for key, value in given.items() if value is not None})
    if args.class_label is not None and not model.num_classes:
        raise ValueError(f"--class {args.class_label}: {args.model} is unconditional (it has no classes).")
    if args.unconditional or not model.num_classes:
        labels, settings = None, settings.with_changes(guidance=0.0)
    elif args.class_label is not None:
        if not 0 <= args.class_label < model.num_classes:
            raise ValueError(f"--class {args.class_label} must be in [0, {model.num_classes}).")
        labels = np.full(args.num, args.class_label)
    else:
        labels = np.arange(args.num) % model.num_classes
    with files.run_folder(args.out, outputs, args.overwrite) as staging:
        images = model.generate(args.num, class_labels=labels, seed=args.seed, settings=settings)
        for name, image in zip(names, images):
            save_image(image, staging / name)
        columns = min(10, args.num)  # the grid shows the full rows only: no black cells
        reporting.save_image_grid(images[: args.num // columns * columns], staging / "grid.png", columns, scale=2)
    print(
        f"wrote {args.out}/: {args.num} images and grid.png ({settings.steps} steps, temperature "
        f"{settings.temperature}, guidance {settings.guidance}, choice temperature "
        f"{settings.choice_temperature})"
    )
