"""`ovnmeta lab ...`"""

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("lab", help="run a real OVN lab on this machine")
    parser.set_defaults(func=lambda args: parser.print_help())
