"""Learned offloading policies: networks, training, saving, the model cache and the paper reproduction.

* :mod:`simoffload.learn.nets` - input features, the MLP, its training loop and the paper's label softening;
* :mod:`simoffload.learn.io` - one-file save/load (``torch.load(weights_only=True)``);
* :mod:`simoffload.learn.cache` - models keyed by a hash of their training configuration;
* :mod:`simoffload.learn.reproduce` - ``simoffload reproduce paper``;
* :mod:`simoffload.learn.cli` - the ``train`` and ``reproduce`` subcommands.

torch is imported lazily by the modules that need it, so importing this package is cheap.
"""
