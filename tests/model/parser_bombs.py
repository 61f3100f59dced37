"""Hostile parser inputs: each must be refused with a ParseError, quickly and in little memory.

Shared by tests/model/test_parsing.py (refused, without hanging, in bounded memory) and
bench/bench_parser.py (how fast, against parsing an ordinary expression).
"""

from __future__ import annotations

BOMBS: dict[str, str] = {
    "tower in the exponent": "x**(10**10**10)",
    "power tower": "9**9**9**9",
    "ten thousand parentheses": "(" * 10_000 + "x" + ")" * 10_000,
    "deep parentheses within the length": "(" * 4_000 + "x" + ")" * 4_000,
    "ten megabytes": "x+" * 5_000_000 + "x",
    "tower of twos": "2**2**2**2**2**2",
    "unary minus chain": "-" * 1_000 + "x",
    "huge integer": "9" * 4_000,
    "integer beyond Python's str limit": "9" * 5_000,
    "float overflow": "1e99999999999",
    "float underflow": "1e-99999999",
    "huge power": "2**100000",
    "power of powers": "(10**30)**(10**30)",
    "exp of a huge log": "exp(10**29*log(2))",
    "exp of x plus a huge log": "exp(x + 10**29*log(2))",
    "e to a huge log": "exp(1)**(10**29*log(2))",
    "powers that multiply": "(2**(7*sqrt(2)))**sqrt(2)",
    "exp tower": "exp(exp(exp(exp(10))))",
    "long flat sum": "x+" * 4_999 + "x",
    "long product": "x*" * 999 + "x",
    "many fractions": "+".join(f"x/{10**29 + 2 * k + 1}" for k in range(300)),
    "many fractions in brackets": "+".join(f"(x/{10**29 + 2 * k + 1} + y)" for k in range(200)),
    "many radicals": "*".join(f"sqrt({10**29 + 2 * k + 1})" for k in range(240)),
}

# A wide sum under nested functions: SymPy alone spends seconds on tanh(tanh(...)) of a 30-term
# sum (it asks is_zero); the parser keeps nested calls unevaluated.
WIDE_SUM = " + ".join(f"w{k}*x{k}" for k in range(100))
NESTED_WIDE = f"tanh(log(exp(tanh(sqrt(tanh(abs(tanh({WIDE_SUM}))))))))"
