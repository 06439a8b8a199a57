# make demo: see it work on an embedded default (8x A100 into .build/demo; nothing else changes).
.PHONY: demo
demo: collection-link ## provision a mock node into .build/demo and run the real nvidia-smi on it
	bash scripts/install-deps.sh nvidia-debs
	ANSIBLE_CALLBACK_RESULT_FORMAT=yaml $(VENV)/bin/ansible-playbook -i localhost, -c local playbooks/demo.yml $(DEMO_ARGS)
