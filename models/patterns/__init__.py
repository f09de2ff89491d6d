"""The attention patterns of issue 15 as blocks, reducers and models, on the shared block protocol.

Modules (each registers what it defines when imported; `models.patterns.zoo` imports them all and is one
of the registry's constructor modules):

* `temporal`: boolean temporal masks (window, strided, local-global), segment pooling, and the learned
  relative temporal position bias (also an option of the divided TimeSformer block);
* `factorised`: ViViT Model 3 (`factorised_self_attention`) and its masked temporal variants
  (`windowed`, `strided_sparse`, `local_global`);
* `dot_product`: ViViT Model 4 (`factorised_dot_product`);
* `axial`: height, then width, then time (`axial`);
* `maps`: the reductions these patterns share;
* `model`: `PatternViT`, one model for every single-stack pattern; `multiscale`: `MultiscaleViT`;
* `zoo`: the named constructors (`<pattern>_tiny`, `<pattern>_base_<frames>x224`).

Token layout of every block here: `[B, T'·h·w, D]`, frame-major (index `t·h·w + i·w + j` is frame `t`,
row `i`, column `j`), **no cls token** (as ViViT Models 3 and 4, whose head mean-pools all tokens).
"""
