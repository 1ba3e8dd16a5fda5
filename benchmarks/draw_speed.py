"""How fast a large model is drawn: a 1,000-box model (100 calls of a 10-box
definition), from the IR to SVG through `dot`, with repeated calls folded (the
default for large models) and without, beside `dot` on a plain chain of as
many nodes (what drawing the model by hand would cost).

    python benchmarks/draw_speed.py [--repeat 3]
"""
from __future__ import annotations

import argparse

import graphviz

import catlearn
from catlearn.diagrams import Style, to_dot
from timing import best

BLOCK = ("def block(d) : R[d] -> R[d] =\n"
         "  x => let a = relu(x), b = add(a, x), c = tanh(b), e = mul(c, a), f = sigmoid(e),\n"
         "           g = sub(f, b), h = square(g), i = neg(h), j = add(i, x)\n"
         "       in exp(j)\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    text = "use std.nn\n" + BLOCK + "model deep : R[16] -> R[16] = " + " ; ".join(["block(16)"] * 100) + "\n"
    model = catlearn.loads(text)["deep"]
    print(f"model: {len(model.ops)} boxes, best of {args.repeat}")
    print(f"{'drawing':40} {'seconds':>8} {'nodes':>6}")
    for title, style in (("calls as boxes, folded (the default)", Style(depth=0)),
                         ("calls as boxes, not folded", Style(depth=0, fold=False)),
                         ("every box, in 100 fences", Style(depth=None))):
        def render(style=style):
            return to_dot(model, style=style).pipe(format="svg")

        graph = to_dot(model, style=style)
        nodes = sum(1 for line in graph.source.splitlines() if "->" not in line and "[" in line
                    and not line.strip().startswith(("graph", "node", "edge", "label")))
        print(f"{title:40} {best(render, args.repeat):8.3f} {nodes:6d}")
    chain = graphviz.Digraph()
    for i in range(len(model.ops)):
        chain.edge(f"n{i}", f"n{i + 1}")
    print(f"{'dot on a plain chain of as many nodes':40} {best(lambda: chain.pipe(format='svg'), args.repeat):8.3f}")


if __name__ == "__main__":
    main()
