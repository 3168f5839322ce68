"""Calls into Keras and the model zoos: bases, models, nested calls, compile/fit/load_weights."""
from __future__ import annotations

import ast
import re

from bnlint.script.applications import (
    FAMILIES,
    PROJECT_ARCHITECTURE,
    SM_DECODER_BN_PREFIXES,
    ZooCall,
    classifiers_get,
    family_of,
    preset_architecture,
    sm_architecture,
    zoo_call,
    zoo_utility,
)
from bnlint.script.facts import (
    Base,
    BaseCall,
    Compile,
    Component,
    Fit,
    LearningPhase,
    ModelFact,
    TrainableChange,
)
from bnlint.script.fit_counts import fit_counts, numpy_rows
from bnlint.script.interpreter.literals import (
    FIT_METHODS,
    const,
    literal_bool,
    nested_base_named,
    string,
    weights_kind,
)
from bnlint.script.values import (
    BaseInput,
    BaseV,
    Env,
    GraphTensor,
    Instance,
    KerasInput,
    Layer,
    Method,
    ModelV,
    NestedTensor,
    QName,
    Rows,
    Seq,
    Super,
    TrainingParam,
    Wrapped,
    atoms,
    tensors,
)


class KerasApi:
    def _call_qualified(self, q: QName, node: ast.Call, positional, keywords, env: Env) -> tuple | None:
        last = q.last
        root = q.keras_root
        if last in FAMILIES and ("applications" in q.parts or root):
            return (BaseV(self._new_base(q, node, positional, keywords)),)
        zoo = self._zoo(q, node, positional, keywords)
        if zoo is not None:
            return zoo
        if last == "load_model" and (root or q.parts[0] in ("tensorflow", "models")):
            path = const(positional[0] if positional else keywords.get("filepath", ()), None)
            base = Base("load_model", None, "path", self._site(node),
                        loaded_from=path if isinstance(path, str) else None)
            self.facts.bases.append(base)
            return (BaseV(base),)
        if not root:
            if last == "set_learning_phase":
                self._learning_phase(node)
                return ()
            rows = numpy_rows(q.name, node)
            return (Rows(rows),) if rows is not None else None
        if not q.implicit:
            self._note_root(root)
        if last in ("Model", "Functional"):
            return self._new_model(node, positional, keywords)
        if last == "Sequential":
            model = ModelFact(self._site(node), kind="sequential")
            self.facts.models.append(model)
            for value in (positional[:1] or [keywords.get("layers", ())]):
                self._add_to_sequential(model, value)
            return (ModelV(model),)
        if last == "TimeDistributed" and positional:
            return tuple(Wrapped(a.base) for a in positional[0] if isinstance(a, BaseV)) or None
        if last == "Input":
            return (KerasInput(self._site(node)),)
        if last == "set_learning_phase":
            self._learning_phase(node)
            return ()
        return None

    def _note_root(self, root: str) -> None:
        if not self._chunk.external:
            self.facts.imports.keras_roots.append(root)

    def _new_base(self, q: QName, node: ast.Call, positional, keywords) -> Base:
        weights = "imagenet"
        input_shape = None
        include_preprocessing = None
        input_tensor = False
        input_tensor_arg = None
        include_top = not (node.args and literal_bool(node.args[0]) is False)
        pooling = False
        for arg in node.keywords:
            if arg.arg == "weights":
                weights = weights_kind(arg.value)
            elif arg.arg == "input_shape" and isinstance(arg.value, (ast.Tuple, ast.List)):
                input_shape = arg.value
            elif arg.arg == "input_tensor":
                input_tensor = not (isinstance(arg.value, ast.Constant) and arg.value.value is None)
                input_tensor_arg = arg
            elif arg.arg == "include_preprocessing":
                include_preprocessing = literal_bool(arg.value)
            elif arg.arg == "include_top":
                include_top = literal_bool(arg.value) is not False
            elif arg.arg == "pooling":
                pooling = string(arg.value) is not None
        if len(node.args) >= 2 and not any(isinstance(a, ast.Starred) for a in node.args[:2]):
            weights = weights_kind(node.args[1])
        base = Base(q.last, family_of(q.last), weights, self._site(node), input_shape=input_shape,
                    input_tensor=input_tensor, include_preprocessing=include_preprocessing,
                    input_tensor_arg=input_tensor_arg, include_top=include_top, pooling=pooling)
        self.facts.bases.append(base)
        if q.keras_root and not q.implicit:
            self._note_root(q.keras_root)
        return base

    # --- model zoos (what each provider does is data: bnlint/script/applications.py) ----------

    def _zoo(self, q: QName, node: ast.Call, positional, keywords) -> tuple | None:
        call = zoo_call(q.parts)
        if call is not None:
            return (BaseV(self._new_zoo_base(call, node, positional, keywords)),)
        if zoo_utility(q.parts) == "unfreeze_all_and_recompile" and positional:
            # sm.utils.set_trainable(model): every layer trainable, then compile() unless recompile=False
            site = self._site(node)
            for atom in positional[0]:
                owner = atom.base if isinstance(atom, BaseV) else atom.model if isinstance(atom, ModelV) else None
                if owner is not None:
                    self.facts.events.append(TrainableChange(site, owner=owner, value=True))
                    if const(keywords.get("recompile", ()), True) is not False:
                        self.facts.events.append(Compile(site, model=owner))
            return ()
        name = const(positional[0] if positional else keywords.get("name", ()), None)
        constructor = classifiers_get(q.parts, name if isinstance(name, str) else None)
        if constructor is not None:
            # `ResNet34, preprocess_input = Classifiers.get("resnet34")`
            return (Seq(((QName(".".join(constructor)),), ())),)
        return None

    def _new_zoo_base(self, call: ZooCall, node: ast.Call, positional, keywords) -> Base:
        spec = call.constructor

        def argument(keyword: str | None, position: int | None) -> tuple | None:
            if keyword is not None and keyword in keywords:
                return keywords[keyword]
            if position is not None and position < len(positional) and \
                    not any(isinstance(a, ast.Starred) for a in node.args[:position + 1]):
                return positional[position]
            return None

        architecture, family, decoder_bn_prefixes = call.architecture, call.family, ()
        if spec.architecture_keyword is not None:       # segmentation_models: the backbone argument
            chosen = argument(spec.architecture_keyword, spec.architecture_position)
            backbone = spec.default_architecture if chosen is None else const(chosen, None)
            architecture, family = sm_architecture(call.model, backbone if isinstance(backbone, str) else None)
            decoder_bn_prefixes = SM_DECODER_BN_PREFIXES.get(call.model, ())
        elif spec.backbone_attribute is not None:
            preset = const(argument("preset", 0) or (), None)
            architecture, family = preset_architecture(call.model, preset if isinstance(preset, str) else None,
                                                       call.root)
        weights = spec.default_weights
        given = argument(spec.weights_keyword, spec.weights_position)
        if given is not None:
            value = const(given, ...)
            weights = ("none" if value is None else "unknown" if not isinstance(value, str)
                       else "imagenet" if value in ("imagenet", "noisy-student") else "path")
        if spec.weights_off_keyword is not None and const(keywords.get(spec.weights_off_keyword, ()), True) is False:
            weights = "none"
        base = Base(architecture or "?", family, weights, self._site(node), provider=spec.provider,
                    whole_model_pretrained=spec.whole_model_pretrained,
                    decoder_bn_prefixes=decoder_bn_prefixes,
                    backbone_attribute=spec.backbone_attribute)
        self.facts.bases.append(base)
        if spec.freeze_all_but_bn_keyword is not None and \
                const(keywords.get(spec.freeze_all_but_bn_keyword, ()), False) is True:
            # sm's freeze_model: "Set all layers non trainable, excluding BatchNormalization layers"
            base.freezes_all_but_bn = True
            self.facts.events.append(TrainableChange(self._site(node), owner=base, value=False,
                                                     whole=False, bn="non_bn"))
        if spec.trainable_keyword is not None and const(keywords.get(spec.trainable_keyword, ()), True) is False:
            self.facts.events.append(TrainableChange(self._site(node), owner=base, value=False))
        return base

    def _new_model(self, node: ast.Call, positional, keywords) -> tuple:
        inputs = positional[0] if positional else keywords.get("inputs", keywords.get("input", ()))
        outputs = positional[1] if len(positional) > 1 else keywords.get("outputs", keywords.get("output", ()))
        inputs_node = None
        if node.args and not isinstance(node.args[0], ast.Starred):
            inputs_node = node.args[0]
        else:
            inputs_node = next((k.value for k in node.keywords if k.arg in ("inputs", "input")), None)
        model = ModelFact(self._site(node))
        input_atoms = atoms(inputs)
        base_inputs = {id(a.base) for a in input_atoms if isinstance(a, BaseInput)}
        graph: dict[int, list[GraphTensor]] = {}
        for atom in atoms(outputs):
            if isinstance(atom, GraphTensor):
                graph.setdefault(id(atom.base), []).append(atom)
            elif isinstance(atom, NestedTensor):
                known = next((c for c in model.components if c.call is atom.call), None)
                if known is None:
                    # In one chain Input -> ... -> base -> head, Keras lists the layers in that
                    # order: the base is `model.layers[input_depth + 1]`, or `[-(head + 1)]`.
                    index = None if atom.call.input_depth is None else atom.call.input_depth + 1
                    model.components.append(Component(atom.call.base, "nested", call=atom.call,
                                                      head_layers=atom.depth, layer_index=index))
                elif known.head_layers != atom.depth:
                    known.head_layers = None
        extractor = self._feature_extractor(node, input_atoms, outputs, graph)
        if extractor is not None:
            return extractor
        for found in graph.values():
            base = found[0].base
            refs = tuple(dict.fromkeys(site for atom in found for site in atom.refs))
            model.components.append(Component(
                base, "flattened", output_refs=refs, intermediate=any(a.intermediate for a in found),
                inputs_site=self._site(inputs_node) if inputs_node is not None else None,
                # the `inputs=` argument is this base's input and nothing else (a fix replaces it whole)
                inputs_is_base_input=len(input_atoms) == 1 and id(base) in base_inputs,
                head_layers=max(a.depth for a in found)))
        for component in model.components:
            component.base.used_as_base = True
        if not model.components and any(isinstance(a, KerasInput) for a in input_atoms):
            text = "".join(self._chunk.lines)     # the substring test first: the expression is slow
            model.builds_bn = "BatchNormalization" in text and _BUILDS_BN.search(text) is not None
        self.facts.models.append(model)
        return (ModelV(model),)

    def _feature_extractor(self, node, input_atoms, outputs, graph) -> tuple | None:
        """`Model(base.input, [base.get_layer(n).output ...])`: a sub-model of the base's own layers
        (U-Net/FPN encoders). It holds the base's pretrained BN layers and is used as a base itself."""
        output_atoms = atoms(outputs)
        if len(graph) != 1 or not output_atoms or not all(isinstance(a, GraphTensor) and a.raw for a in output_atoms):
            return None
        base = output_atoms[0].base
        if not input_atoms or not all(isinstance(a, BaseInput) and a.base is base for a in input_atoms):
            return None
        base.used_as_base = True
        extractor = Base(base.architecture, base.family, base.weights, self._site(node), name="<feature extractor>",
                         derived_from=base)
        self.facts.bases.append(extractor)
        return (BaseV(extractor),)

    def _add_to_sequential(self, model: ModelFact, value: tuple, one_layer: bool = False) -> None:
        """`Sequential([...])` (`value` a list) or `model.add(layer)` (`one_layer`): the bases nest,
        at their index in `model.layers` while every layer added so far is counted (an `Input` is
        not a layer there)."""
        items = [value] if one_layer else next((a.items for a in value if isinstance(a, Seq)), None)
        if items is None:                           # a list built elsewhere: positions unknown
            items, model.layer_count = [value], None
        for item in items:
            item_atoms = atoms(item)
            if item_atoms and all(isinstance(a, KerasInput) for a in item_atoms):
                continue
            for atom in item_atoms:
                if isinstance(atom, BaseV):
                    model.components.append(Component(atom.base, "nested", layer_index=model.layer_count))
                    atom.base.used_as_base = True
                elif isinstance(atom, ModelV):
                    for component in atom.model.components:
                        model.components.append(Component(component.base, "nested"))
            if model.layer_count is not None:
                model.layer_count += 1

    def _call_base(self, base: Base, node: ast.Call, env: Env, positional) -> tuple:
        base.used_as_base = True
        training, training_arg = "absent", None
        for arg in node.keywords:
            if arg.arg == "training":
                training_arg = arg
                literal = literal_bool(arg.value)
                if literal is False:
                    training = "false"
                elif literal is True:
                    training = "true"
                elif any(isinstance(a, TrainingParam) for a in self._eval(arg.value, env)):
                    training = "forwarded"
                else:
                    training = "other"
        symbolic = self._in_method or any(tensors(value) for value in positional[:1])
        chain = [a for a in tensors(positional[0]) if isinstance(a, KerasInput)] if positional else []
        input_depth = chain[0].depth if len(chain) == 1 and len(tensors(positional[0])) == 1 else None
        in_subclass_call = bool(self._owners and self._owners[-1][0].keras_layer and self._active
                                and self._active[-1].name == "call")
        call = BaseCall(base, self._site(node), training, training_arg, symbolic, input_depth, in_subclass_call)
        self.facts.base_calls.append(call)
        return (NestedTensor(call),)

    def _call_method(self, method: Method, node: ast.Call, positional, keywords) -> tuple | None:
        receiver = method.receiver
        if isinstance(receiver, Super):
            return self._run_method(receiver.instance, method.name, positional, keywords, node, after=receiver.owner) or ()
        if isinstance(receiver, Instance) and not (method.name.startswith("__") and method.name.endswith("__")):
            result = self._run_method(receiver, method.name, positional, keywords, node)
            if result is not None:
                return result
        if isinstance(receiver, BaseV):
            model = receiver.base
        elif isinstance(receiver, ModelV):
            model = receiver.model
        else:
            model = receiver.model
        name = method.name
        if name == "compile":
            self.facts.events.append(Compile(self._site(node), model=model))
            return ()
        if name == "load_weights":
            # `InceptionV3(weights=None)` then `load_weights("inception_v3_weights.h5")`: pretrained
            for base in ([model] if isinstance(model, Base) else model.bases() if isinstance(model, ModelFact) else []):
                if base.weights == "none":
                    base.weights = "path"
            if isinstance(model, ModelFact) and model.builds_bn and model.base is None:
                # the project's own BN architecture with trained weights (YOLO's Darknet body)
                model.base = Base(PROJECT_ARCHITECTURE.name, PROJECT_ARCHITECTURE, "path", model.site,
                                  name=model.name, provider="project")
                self.facts.bases.append(model.base)
            return ()
        if name in FIT_METHODS:
            self.facts.events.append(Fit(self._site(node), model=model, method=name, repeated=self._repeated > 0,
                                         **fit_counts(node, positional, keywords)))
            return ()
        if name == "add" and isinstance(receiver, ModelV) and positional:
            self._add_to_sequential(receiver.model, positional[0], one_layer=True)
            return ()
        if name == "get_layer":
            if isinstance(receiver, BaseV):
                return (Layer(receiver.base, False, "all", False, None),)
            nested = nested_base_named(model, string(node.args[0]) if node.args else None)
            if nested is not None:
                return (BaseV(nested),)     # `model.get_layer("efficientnetb0")` is the base itself
            return (Layer(model, False, "all", False, None),)
        return ()

    def _learning_phase(self, node: ast.Call) -> None:
        value = "other"
        if node.args and literal_bool(node.args[0]) is not None:
            value = "1" if literal_bool(node.args[0]) else "0"
        self.facts.events.append(LearningPhase(self._site(node), value=value))


# The file builds BatchNormalization layers (the layer class called, not just imported).
_BUILDS_BN = re.compile(r"\bBatchNormalization\s*\(")
