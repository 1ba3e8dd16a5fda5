"""Bundled models compiled to torch agree with the PyTorch layers they describe."""
import torch

import catlearn
from catlearn.backends.torch import compile_module


def test_transformer_block_matches_torch_transformer_encoder_layer():
    block = catlearn.load("models/transformer_block.cat")["transformer"]
    torch.manual_seed(0)
    reference = torch.nn.TransformerEncoderLayer(d_model=32, nhead=1, dim_feedforward=64, dropout=0.0,
                                                 activation="relu", batch_first=True, norm_first=False)
    reference.eval()
    for mode in ("autograd", "rd"):
        ours = compile_module(block, mode)
        p = "encoder_block."
        q, k, v = reference.self_attn.in_proj_weight.detach().chunk(3)
        bq, bk, bv = reference.self_attn.in_proj_bias.detach().chunk(3)
        weights = {
            "self_attention.Wq": q, "self_attention.Wk": k, "self_attention.Wv": v,
            "self_attention.bq": bq, "self_attention.bk": bk, "self_attention.bv": bv,
            "self_attention.dense.W": reference.self_attn.out_proj.weight,
            "self_attention.dense.b": reference.self_attn.out_proj.bias,
            "feed_forward.dense.W": reference.linear1.weight, "feed_forward.dense.b": reference.linear1.bias,
            "feed_forward.dense_1.W": reference.linear2.weight, "feed_forward.dense_1.b": reference.linear2.bias,
            "layer_norm.gamma": reference.norm1.weight, "layer_norm.beta": reference.norm1.bias,
            "layer_norm_1.gamma": reference.norm2.weight, "layer_norm_1.beta": reference.norm2.bias,
        }
        ours.load_state_dict({p + key: value.detach().clone() for key, value in weights.items()})
        x = torch.randn(4, 10, 32)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-5)
        x.requires_grad_(True)  # and the same gradients
        ours(x).square().sum().backward()
        ours_grad = x.grad.clone()
        x.grad = None
        reference(x).square().sum().backward()
        torch.testing.assert_close(ours_grad, x.grad, rtol=1e-4, atol=1e-4)
