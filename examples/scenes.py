"""Draw the street-scenes scenario: street pictures made of simple shapes, with every object's exact box.

Nothing is photographed or downloaded: each picture is an SVG drawn here, so the true box of every
car, truck and person is known to the pixel. Vans are the hand-written hard case (the guidelines
say a van is a Car). The seed is fixed, so running it again rewrites the same files:

    python examples/scenes.py examples/street-scenes
"""

from __future__ import annotations

import argparse
import base64
import json
import random
from pathlib import Path

WIDTH, HEIGHT = 640, 400
CONTROL, OBJECT = "objects", "image"
COLOURS = ["#c0392b", "#2471a3", "#f4d03f", "#7f8c8d", "#1e8449", "#ecf0f1", "#512e5f", "#d35400"]
LANES = (300, 372)  # where vehicles stand, far then near
SIDEWALK = 246       # where people stand
WHY = {
    "Car": "Every car and van gets its own Car box, wheels included.",
    "Truck": "A truck has a cab and a separate cargo box: one Truck box around both.",
    "Person": "People on foot get a Person box from the top of the head to the feet.",
    "van": "A van is one body without a separate cargo box: the guidelines say Car, however tall it is.",
}


def car(x: float, ground: float, rng: random.Random, van: bool = False) -> tuple[str, tuple]:
    """A car (or a van: taller, one box-shaped body) standing with its wheels on `ground`; (svg, box)."""
    width = rng.uniform(100, 120) if van else rng.uniform(82, 108)
    top = ground - (72 if van else 54)
    colour = rng.choice(COLOURS)
    if van:
        body = (f"<rect x='{x:.1f}' y='{top:.1f}' width='{width:.1f}' height='{ground - 10 - top:.1f}' rx='8' fill='{colour}'/>"
                f"<rect x='{x + width * 0.72:.1f}' y='{top + 8:.1f}' width='{width * 0.22:.1f}' height='18' fill='#aed6f1'/>")
    else:
        body = (f"<polygon points='{x + width * 0.22:.1f},{ground - 34:.1f} {x + width * 0.32:.1f},{top:.1f} "
                f"{x + width * 0.68:.1f},{top:.1f} {x + width * 0.8:.1f},{ground - 34:.1f}' fill='#aed6f1' stroke='{colour}' stroke-width='3'/>"
                f"<rect x='{x:.1f}' y='{ground - 36:.1f}' width='{width:.1f}' height='26' rx='7' fill='{colour}'/>")
    return body + _wheels(x, width, ground, 9, (0.2, 0.8)), (x, top, width, ground - top)


def truck(x: float, ground: float, rng: random.Random) -> tuple[str, tuple]:
    """A truck: a tall cargo box and a cab in front, on three wheels; (svg, box)."""
    width = rng.uniform(150, 185)
    top = ground - rng.uniform(96, 108)
    cargo, cab = width * 0.72, width * 0.25
    svg = (f"<rect x='{x:.1f}' y='{top:.1f}' width='{cargo:.1f}' height='{ground - 16 - top:.1f}' fill='{rng.choice(COLOURS)}' stroke='#333'/>"
           f"<rect x='{x + width - cab:.1f}' y='{ground - 72:.1f}' width='{cab:.1f}' height='56' rx='6' fill='{rng.choice(COLOURS)}'/>"
           f"<rect x='{x + width - cab * 0.75:.1f}' y='{ground - 66:.1f}' width='{cab * 0.6:.1f}' height='18' fill='#aed6f1'/>")
    return svg + _wheels(x, width, ground, 11, (0.15, 0.4, 0.85)), (x, top, width, ground - top)


def person(x: float, ground: float, rng: random.Random) -> tuple[str, tuple]:
    """A person on foot, centred on x; (svg, box)."""
    height = rng.uniform(52, 62)
    top = ground - height
    shirt = rng.choice(COLOURS)
    svg = (f"<circle cx='{x:.1f}' cy='{top + 7:.1f}' r='7' fill='#f5cba7'/>"
           f"<rect x='{x - 8:.1f}' y='{top + 14:.1f}' width='16' height='{height * 0.42:.1f}' rx='4' fill='{shirt}'/>"
           f"<line x1='{x - 4:.1f}' y1='{top + 14 + height * 0.42:.1f}' x2='{x - 5:.1f}' y2='{ground:.1f}' stroke='#1c2833' stroke-width='5'/>"
           f"<line x1='{x + 4:.1f}' y1='{top + 14 + height * 0.42:.1f}' x2='{x + 5:.1f}' y2='{ground:.1f}' stroke='#1c2833' stroke-width='5'/>")
    return svg, (x - 8, top, 16, height)


def _wheels(x: float, width: float, ground: float, radius: float, at: tuple) -> str:
    return "".join(f"<circle cx='{x + width * share:.1f}' cy='{ground - radius:.1f}' r='{radius}' fill='#17202a'/>" for share in at)


def scene(number: int, rng: random.Random, van: bool) -> dict:
    """One picture: background, then objects from far to near; its task data and true regions."""
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' viewBox='0 0 {WIDTH} {HEIGHT}'>",
             f"<rect width='{WIDTH}' height='{SIDEWALK - 40}' fill='#d6eaf8'/>"]
    x = 0.0
    while x < WIDTH:
        width = rng.uniform(60, 130)
        top = rng.uniform(60, 150)
        parts.append(f"<rect x='{x:.1f}' y='{top:.1f}' width='{width - 6:.1f}' height='{SIDEWALK - 40 - top:.1f}' fill='{rng.choice(('#d5d8dc', '#b2babb', '#e5e8e8', '#cacfd2'))}'/>")
        x += width
    parts += [f"<rect y='{SIDEWALK - 40}' width='{WIDTH}' height='44' fill='#bfc9ca'/>",
              f"<rect y='{SIDEWALK + 4}' width='{WIDTH}' height='{HEIGHT - SIDEWALK - 4}' fill='#566573'/>"]
    parts += [f"<rect x='{x}' y='334' width='40' height='5' fill='#f7f9f9'/>" for x in range(10, WIDTH, 90)]
    objects = []
    for _ in range(rng.randint(0, 2)):
        objects.append(("Person", SIDEWALK, rng.uniform(20, WIDTH - 20)))
    vehicles = rng.sample(["Car", "Car", "Truck", "Truck", "Car"], rng.randint(1, 3))
    if van:
        vehicles[0] = "van"
    for lane, kinds in zip(LANES, (vehicles[: len(vehicles) // 2], vehicles[len(vehicles) // 2:])):
        x = rng.uniform(5, 60)
        for kind in kinds:
            objects.append((kind, lane, x))
            x += (190 if kind == "Truck" else 125) + rng.uniform(20, 120)
    regions, drawn = [], []
    for kind, ground, x in objects:
        if kind == "Person":
            svg, box = person(x, ground, rng)
        elif kind == "Truck":
            svg, box = truck(x, ground, rng)
        else:
            svg, box = car(x, ground, rng, van=kind == "van")
        if box[0] + box[2] > WIDTH - 2 or any(_overlap(box, other) > 0.3 for other in drawn):
            continue  # off the picture's edge, or hiding another object too much to box
        drawn.append(box)
        parts.append(svg)
        regions.append((kind, box))
    parts.append("</svg>")
    image = "data:image/svg+xml;base64," + base64.b64encode("".join(parts).encode()).decode()
    return {"data": {"image": image, "scene": f"street-{number:03d}"}, "regions": regions, "hard": any(k == "van" for k, _ in regions)}


def _overlap(a: tuple, b: tuple) -> float:
    """Share of the smaller box that the other covers."""
    width = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return width * height / min(a[2] * a[3], b[2] * b[3])


def result(regions: list[tuple]) -> list[dict]:
    """The regions as Label Studio's rectangle results, in percent of the picture."""
    return [{
        "id": f"box{number}", "from_name": CONTROL, "to_name": OBJECT, "type": "rectanglelabels",
        "original_width": WIDTH, "original_height": HEIGHT, "image_rotation": 0,
        "value": {"x": round(100 * x / WIDTH, 2), "y": round(100 * y / HEIGHT, 2), "width": round(100 * w / WIDTH, 2),
                  "height": round(100 * h / HEIGHT, 2), "rotation": 0, "rectanglelabels": ["Car" if kind == "van" else kind]},
    } for number, (kind, (x, y, w, h)) in enumerate(regions)]


def explanation(regions: list[tuple]) -> str:
    kinds = sorted({kind for kind, _ in regions}, key=list(WHY).index)
    return " ".join(WHY[kind] for kind in kinds)


def draw(folder: Path, tasks: int = 44, gold: int = 16, seed: int = 11) -> dict:
    rng = random.Random(seed)
    scenes = [scene(number, rng, van=number % 6 == 0) for number in range(1, tasks + gold + 1)]
    scenes = [s for s in scenes if s["regions"]]
    hard = [s for s in scenes if s["hard"]]
    chosen = hard[: gold // 3] + [s for s in scenes if not s["hard"]][: gold - min(len(hard), gold // 3)]
    rest = [s for s in scenes if s not in chosen]
    _write(folder / "tasks.json", [s["data"] for s in rest])
    _write(folder / "gold.json", [{"data": s["data"], "annotations": [{"result": result(s["regions"])}],
                                   "explanation": explanation(s["regions"]), **({"hard": True} if s["hard"] else {})} for s in chosen])
    _write(folder / "answers.json", [{"data": s["data"], "result": result(s["regions"]), **({"hard": True} if s["hard"] else {})}
                                     for s in rest])
    return {"tasks": len(rest), "gold": len(chosen), "boxes": sum(len(s["regions"]) for s in scenes)}


def _write(path: Path, items: list) -> None:
    path.write_text(json.dumps(items, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the scenario folder to write tasks.json, gold.json and answers.json into")
    summary = draw(parser.parse_args().folder)
    print(f"{summary['tasks']} tasks, {summary['gold']} gold, {summary['boxes']} boxes")


if __name__ == "__main__":
    main()
