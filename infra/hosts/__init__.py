"""Host-side tools that sit beside the Pulumi program but are not part of it: the offline install bundle
(``bundle``), the client's private CA (``ca``), the Ansible inventory from stack outputs (``inventory``) and the
roles' READMEs from their argument specs (``roles_docs``)."""
