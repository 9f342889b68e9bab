import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  certificateView,
  CertificatePatch,
  CertificateUpload,
  defaultCertificate,
  type Certificate,
  type CertificateView,
} from '../../model/certificate.js';
import { checkCertificate } from '../../model/certificate-check.js';
import { objectEtag } from '../../store/changes.js';
import type { Store } from '../../store/store.js';
import { awaitApplied } from '../applied.js';
import type { AdminDeps } from '../deps.js';
import { AdminError } from '../errors.js';
import { parseInput } from '../validate.js';

type IdParams = { Params: { id: string } };

/**
 * The admin view of `cert` among everything stored now (whether it serves as the default needs them
 * all). Its ETag is the stored certificate's (what If-Match is checked against), not the view's, whose
 * expiry in days and default status change without a write to it.
 */
async function viewOf(store: Store, cert: Certificate, reply: FastifyReply): Promise<CertificateView> {
  reply.header('etag', objectEtag('certificate', cert));
  return certificateView(cert, defaultCertificate(await store.listCertificates())?.id === cert.id);
}

function notFound(id: string): AdminError {
  return new AdminError('CERTIFICATE_NOT_FOUND', `no certificate with id ${id}`);
}

/**
 * `/admin/certificates` and `/admin/certificates/:id`: list, upload, read, replace (PUT, new PEM),
 * make default (PATCH), delete. An upload is checked before anything is stored (CertificateProblem
 * codes); private keys are never part of an answer (nor of the audit log). Reading is a viewer's,
 * writing an editor's (the role defaults): a key goes in but never comes out, so uploading one gives
 * away nothing an editor could not already do with routes; reading keys back (an export with
 * secrets) is an admin's.
 */
export function registerCertificateRoutes(app: FastifyInstance, { store, runtime }: AdminDeps): void {
  app.get('/certificates', async (): Promise<CertificateView[]> => {
    const certs = await store.listCertificates();
    const fallback = defaultCertificate(certs);
    return certs.map((c) => certificateView(c, c.id === fallback?.id));
  });

  app.post('/certificates', { config: { successStatus: 201 } }, async (request, reply) => {
    const upload = parseInput(CertificateUpload, request.body);
    const checked = checkCertificate(upload);
    const cert = await store.createCertificate({ ...checked, isDefault: upload.isDefault ?? false });
    await awaitApplied(runtime, request.log);
    return reply.code(201).send(await viewOf(store, cert, reply));
  });

  app.get<IdParams>('/certificates/:id', async (request, reply) => {
    const cert = await store.getCertificate(request.params.id);
    if (!cert) throw notFound(request.params.id);
    return viewOf(store, cert, reply);
  });

  app.put<IdParams>('/certificates/:id', async (request, reply) => {
    const upload = parseInput(CertificateUpload, request.body);
    const checked = checkCertificate(upload);
    const cert = await store.updateCertificate(request.params.id, (current) => ({
      ...current,
      ...checked,
      isDefault: upload.isDefault ?? current.isDefault,
    }));
    if (!cert) throw notFound(request.params.id);
    await awaitApplied(runtime, request.log);
    return viewOf(store, cert, reply);
  });

  app.patch<IdParams>('/certificates/:id', async (request, reply) => {
    const { isDefault } = parseInput(CertificatePatch, request.body);
    const cert = await store.updateCertificate(request.params.id, (current) => ({ ...current, isDefault }));
    if (!cert) throw notFound(request.params.id);
    await awaitApplied(runtime, request.log);
    return viewOf(store, cert, reply);
  });

  app.delete<IdParams>('/certificates/:id', async (request, reply) => {
    if (!(await store.deleteCertificate(request.params.id))) throw notFound(request.params.id);
    await awaitApplied(runtime, request.log);
    return reply.code(204).send();
  });
}
